"""Two objectives: the validation loss of a small fully connected network on scikit-learn's
8×8 digits against its size, its parameter count, both minimised. The data, its split and the
training loop are the digits experiment's (``experiments.digits``, ``experiments._training``);
only the model differs: ``depth`` hidden layers of ``width`` units.

``train(config)`` reports ``val_loss``, ``val_accuracy`` and ``n_params`` after every epoch,
with a checkpoint (model, optimizer, epoch) from which a retried or resumed trial continues.
The parameter count is known before training: a deterministic objective, unlike a measured
latency, and the one a size budget (a constraint on ``n_params``) is written against.
"""

from __future__ import annotations

from torch import nn

from experiments._training import train_classifier
from experiments.digits import load_data


def build_model(width: int, depth: int) -> nn.Module:
    """``depth`` hidden layers of ``width`` ReLU units on the flattened 8×8 image, 10 outputs."""
    layers: list[nn.Module] = [nn.Flatten()]
    inputs = 64
    for _ in range(depth):
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, 10))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train(config: dict) -> None:
    model = build_model(config["width"], config["depth"])
    train_classifier(config, load_data(), model, extra={"n_params": parameter_count(model)})
