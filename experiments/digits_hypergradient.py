"""Gradient-based HPO on scikit-learn's 8×8 digits: an MLP trained by SGD while its learning rate
and per-layer weight decay are tuned by hypergradients (raytune_hpo.gradient), against the same
training with the initial hyperparameters kept fixed. Offline data, seeded, CPU, a few seconds.

    python -m experiments.digits_hypergradient

A split of 1,077 images to train on, 360 to validate on (the hypergradients' objective) and 360
held out for testing. ``train(config)`` is the in-trial pattern: a searcher picks the hidden width
(a discrete choice), hypergradients tune lr and weight decay while it trains, and every epoch is
reported with ``hpo.report``; ``SPACE`` is its search space.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

import raytune_hpo as hpo
from raytune_hpo.gradient import HyperGradient, fit

SPACE = {
    "hidden": hpo.choice([32, 64, 128]),
    "lr": 0.01,               # initial values; the hypergradients take them from here
    "weight_decay": 1e-3,
    "momentum": 0.9,          # kept fixed
    "epochs": 10,
    "unroll": 5,
    "hyper_lr": 0.1,
}


@functools.lru_cache(maxsize=1)
def load_data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"train", "val", "test"}: (x, y) with x of shape (N, 64), pixels in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=360, stratify=y, random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=360, stratify=y_rest, random_state=0
    )
    return {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}


def build_model(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def tune(config: dict, *, seed: int = 0, tuned: bool = True, report_to_tune: bool = False) -> dict:
    """Train one model; with ``tuned=False`` the initial hyperparameters stay fixed (hyper_lr 0),
    everything else (weights, batch order) identical. Returns the final val/test losses and
    hyperparameters."""
    torch.manual_seed(seed)
    data = load_data()
    model = build_model(config["hidden"])
    hg = HyperGradient(
        model, nn.functional.cross_entropy,
        {"lr": config["lr"], "weight_decay": config["weight_decay"]},
        fixed={"momentum": config.get("momentum", 0.0)},
        per_layer_decay=True, unroll=config["unroll"],
        hyper_lr=config["hyper_lr"] if tuned else 0.0,
    )
    history = fit(
        hg, data["train"], data["val"], epochs=config["epochs"], batch_size=config.get("batch_size", 64),
        generator=torch.Generator().manual_seed(seed), report_to_tune=report_to_tune,
    )
    return {"val_loss": history[-1]["val_loss"], "test_loss": hg.evaluate(data["test"]), **hg.values()}


def train(config: dict) -> None:
    """The trainable: ``hpo.run(train, SPACE, metric="val_loss", mode="min", ...)``."""
    torch.set_num_threads(1)
    tune(config, seed=config.get("seed", 0), report_to_tune=True)


def main() -> None:
    torch.set_num_threads(1)
    config = {k: v for k, v in SPACE.items() if k != "hidden"} | {"hidden": 64}
    fixed = tune(config, tuned=False)
    tuned = tune(config, tuned=True)
    print(f"initial hyperparameters lr={config['lr']:g} weight_decay={config['weight_decay']:g} "
          f"(momentum {config['momentum']:g}), {config['epochs']} epochs")
    print(f"  fixed: val_loss {fixed['val_loss']:.4f}  test_loss {fixed['test_loss']:.4f}")
    print(f"  tuned: val_loss {tuned['val_loss']:.4f}  test_loss {tuned['test_loss']:.4f}")
    print("  tuned values: " + ", ".join(f"{k}={v:.3g}" for k, v in tuned.items() if not k.endswith("_loss")))


if __name__ == "__main__":
    main()
