"""A conditional space on scikit-learn's 8×8 digits: the optimizer is SGD (with a momentum) or
Adam (with a β₁), and the network has 1, 2 or 3 hidden layers, each depth with its own list of
widths. Only the chosen options' parameters exist in a trial's configuration: an Adam trial has
no ``momentum``, a 2-layer one two widths. The data, its split and the training loop are the
digits experiment's (``experiments.digits``, ``experiments._training``).

``train(config)`` reports ``val_loss`` and ``val_accuracy`` after every epoch, with a
checkpoint (model, optimizer, epoch) from which a retried or resumed trial continues.

The same experiment from Python (``experiments/digits_conditional.yaml`` is it as a file)::

    import raytune_hpo as hpo
    from experiments.digits_conditional import SPACE, train

    res = hpo.run(train, SPACE, metric="val_loss", searcher="tpe", scheduler="asha", max_t=9,
                  num_samples=40)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

import raytune_hpo as hpo
from experiments._training import accuracy, device, fit
from experiments.digits import load_data

SPACE = {
    "optimizer": hpo.choice([
        {"name": "sgd", "lr": hpo.loguniform(1e-2, 3e-1), "momentum": hpo.uniform(0.5, 0.95)},
        {"name": "adam", "lr": hpo.loguniform(1e-4, 1e-2), "beta1": hpo.uniform(0.8, 0.95)},
    ]),
    "layers": hpo.choice([
        {"n": 1, "width": [hpo.choice([32, 64, 128])]},
        {"n": 2, "width": [hpo.choice([32, 64, 128]), hpo.choice([16, 32, 64])]},
        {"n": 3, "width": [hpo.choice([32, 64, 128]), hpo.choice([32, 64]), hpo.choice([16, 32])]},
    ]),
    "batch_size": 64,
    "epochs": 9,
}


def build_model(widths: Sequence[int]) -> nn.Module:
    """A hidden layer of ReLU units per width, on the flattened 8×8 image; 10 outputs."""
    layers: list[nn.Module] = [nn.Flatten()]
    inputs = 64
    for width in widths:
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, 10))


def build_optimizer(parameters, chosen: Mapping) -> tuple[torch.optim.Optimizer, dict]:
    """The optimizer the ``optimizer`` branch chose, and its settings from the configuration
    (they win over a checkpoint's)."""
    if chosen["name"] == "sgd":
        settings = {"lr": chosen["lr"], "momentum": chosen["momentum"]}
        return torch.optim.SGD(parameters, **settings), settings
    settings = {"lr": chosen["lr"], "betas": (chosen["beta1"], 0.999)}
    return torch.optim.Adam(parameters, **settings), settings


def train(config: dict) -> None:
    on = device()
    x_train, y_train, x_val, y_val = (t.to(on) for t in load_data())
    model = build_model(config["layers"]["width"]).to(on)
    optimizer, settings = build_optimizer(model.parameters(), config["optimizer"])
    fit(config, model, optimizer, (x_train, y_train), (x_val, y_val), nn.CrossEntropyLoss(), settings, accuracy)
