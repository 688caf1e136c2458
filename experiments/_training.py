"""The training loop the torch experiments share: shuffled mini-batches, a validation pass,
one ``hpo.report`` per epoch with a checkpoint, and the resume from ``hpo.load_checkpoint()``."""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

import raytune_hpo as hpo


def device() -> str:
    torch.set_num_threads(1)  # one CPU per trial: trials run side by side
    return "cuda" if torch.cuda.is_available() else "cpu"


def fit(
    config: Mapping,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    loss_fn: nn.Module,
    hyperparameters: Mapping[str, float],
    metrics: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
) -> None:
    """Train for ``config["epochs"]`` epochs of ``config["batch_size"]`` batches, reporting
    ``val_loss`` (and ``metrics(outputs, targets)``) each epoch. ``hyperparameters`` are the
    optimizer's settings from the config: they win over a checkpoint's, since PBT may have
    changed them since it was saved."""
    start = 0
    state = hpo.load_checkpoint()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for group in optimizer.param_groups:
            group.update(hyperparameters)
        start = state["epoch"] + 1

    (x_train, y_train), (x_val, y_val) = train, val
    for epoch in range(start, config["epochs"]):
        model.train()
        order = torch.randperm(len(x_train), device=x_train.device)
        for batch in order.split(config["batch_size"]):
            optimizer.zero_grad()
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            outputs = model(x_val)
            val_loss = loss_fn(outputs, y_val).item()
            extra = metrics(outputs, y_val) if metrics else {}
        hpo.report(
            val_loss=val_loss,
            **extra,
            checkpoint={"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
        )


def train_classifier(config: Mapping, data: tuple[torch.Tensor, ...], model: nn.Module,
                     extra: Mapping[str, float] | None = None) -> None:
    """``fit`` for an image classifier: SGD with the config's ``lr`` and ``momentum``,
    cross-entropy, ``val_accuracy`` (and the constant metrics ``extra``) reported beside
    ``val_loss``."""
    on = device()
    x_train, y_train, x_val, y_val = (t.to(on) for t in data)
    model = model.to(on)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])
    fit(config, model, optimizer, (x_train, y_train), (x_val, y_val), nn.CrossEntropyLoss(),
        {"lr": config["lr"], "momentum": config["momentum"]},
        lambda outputs, labels: {**accuracy(outputs, labels), **(extra or {})})


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    return {"val_accuracy": (logits.argmax(1) == labels).float().mean().item()}
