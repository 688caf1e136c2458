"""The training loop the torch experiments share: a trial restarted from a checkpoint goes on
from its saved weights and epoch, with the config's hyperparameters over the saved ones."""

from __future__ import annotations

import pytest
import torch

import raytune_hpo
from experiments import autoencoder, digits, mnist
from raytune_hpo.trainable import load_checkpoint_file

CASES = {
    "digits": (digits, {"lr": 0.05, "momentum": 0.9, "channels": 8, "hidden": 32, "dropout": 0.1, "batch_size": 64}),
    "mnist": (mnist, {"lr": 0.05, "momentum": 0.9, "channels": 4, "hidden": 32, "dropout": 0.1, "batch_size": 64}),
    "autoencoder": (autoencoder, {"latent_dim": 8, "depth": 1, "lr": 3e-3, "residual": True, "double": False, "batch_size": 64}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_train_resumes_from_its_checkpoint_with_the_configs_learning_rate(name, monkeypatch, tmp_path, reports):
    module, config = CASES[name]
    torch.manual_seed(0)
    module.train({**config, "epochs": 1})
    (first,) = reports
    # Through a file, as a checkpoint travels between trials.
    torch.save(first["checkpoint"], tmp_path / "checkpoint.pt")
    state = load_checkpoint_file(str(tmp_path / "checkpoint.pt"))
    monkeypatch.setattr(raytune_hpo, "load_checkpoint", lambda: state)
    reports.clear()
    # With lr 0 (the config wins over the saved optimizer) the weights cannot move: epoch 1
    # validates exactly the checkpoint's model.
    module.train({**config, "epochs": 2, "lr": 0.0})
    (second,) = reports
    assert second["checkpoint"]["epoch"] == 1
    metrics = {k: v for k, v in first.items() if k != "checkpoint"}
    assert {k: second[k] for k in metrics} == metrics
    assert second["checkpoint"]["optimizer"]["param_groups"][0]["lr"] == 0.0
