"""A small CNN on scikit-learn's 8×8 digits (1,797 images, shipped with scikit-learn: nothing
is downloaded). A fixed, stratified split: 1,437 images to train on, 360 to validate on.

``train(config)`` reports ``val_loss`` and ``val_accuracy`` after every epoch, with a checkpoint
(model, optimizer, epoch) from which a retried, resumed or PBT-exploiting trial continues.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

import raytune_hpo as hpo
from experiments._training import train_classifier

SPACE = {
    "lr": hpo.loguniform(1e-3, 3e-1),
    "momentum": hpo.uniform(0.5, 0.99),
    "channels": hpo.choice([8, 16, 32]),
    "hidden": hpo.choice([32, 64, 128]),
    "dropout": hpo.quniform(0.0, 0.5, 0.1),
    "batch_size": hpo.choice([32, 64, 128]),
    "epochs": 20,
}


@functools.lru_cache(maxsize=1)
def load_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val); pixels scaled to [0, 1], shape (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=360, stratify=y, random_state=0
    )
    return x_train, y_train, x_val, y_val


def build_model(channels: int, hidden: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
        nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * channels * 16, hidden), nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )


def train(config: dict) -> None:
    train_classifier(config, load_data(), build_model(config["channels"], config["hidden"], config["dropout"]))
