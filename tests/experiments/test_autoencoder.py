"""The convolutional autoencoder on the 8×8 digits: its data, every architecture the space
allows, and train() run by hand (no Ray), its reports captured."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from experiments import autoencoder
from raytune_hpo.space import Space
from raytune_hpo.trainable import load_checkpoint_file

CONFIG = {"latent_dim": 8, "depth": 1, "lr": 3e-3, "residual": True, "double": False,
          "batch_size": 64, "epochs": 3}



def test_data_is_the_digits_split_scaled_to_unit_range():
    x_train, y_train, x_val, y_val = autoencoder.load_data()
    assert x_train.shape == (1437, 1, 8, 8) and x_val.shape == (360, 1, 8, 8)
    assert y_train.shape == (1437,) and y_val.shape == (360,)
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_val.max() == 1.0


def test_space_gives_the_documented_choices():
    params = Space(autoencoder.SPACE).params
    assert sorted(params) == ["depth", "double", "latent_dim", "lr", "residual"]
    assert params["latent_dim"].options == (4, 8, 16, 32)
    assert (params["depth"].low, params["depth"].high) == (1, 4)  # 1, 2 or 3
    assert set(params["residual"].options) == set(params["double"].options) == {True, False}
    assert autoencoder.SPACE["epochs"] == 15


@pytest.mark.parametrize(
    ("depth", "residual", "double"), list(itertools.product([1, 2, 3], [True, False], [True, False]))
)
def test_every_architecture_reconstructs_images_through_its_latent_code(depth, residual, double):
    x = autoencoder.load_data()[2][:5]
    for latent_dim in (4, 32):
        model = autoencoder.build_model(latent_dim, depth, residual, double)
        code = model.encode(x)
        assert code.shape == (5, latent_dim)
        out = model(x)
        assert out.shape == (5, 1, 8, 8)
        assert torch.equal(out, model.decode(code))
        assert 0.0 <= out.min() and out.max() <= 1.0
    blocks = [m for m in model.modules() if isinstance(m, autoencoder.ConvBlock)]
    assert len(blocks) == 2 * depth  # encoder and decoder
    convs = sum(isinstance(m, torch.nn.Conv2d) for b in blocks for m in b.body)
    assert convs == 2 * depth * (2 if double else 1)
    assert all((b.shortcut is not None) == residual for b in blocks)


def test_a_residual_block_adds_its_input():
    block = autoencoder.ConvBlock(16, 16, double=False, residual=True)
    x = torch.randn(2, 16, 4, 4)
    assert torch.allclose(block(x), block.body(x) + x)
    wider = autoencoder.ConvBlock(1, 16, double=True, residual=True)
    assert isinstance(wider.shortcut, torch.nn.Conv2d)
    assert wider(torch.randn(2, 1, 8, 8)).shape == (2, 16, 8, 8)


def test_train_lowers_the_validation_loss_below_the_mean_image(reports):
    torch.manual_seed(0)
    autoencoder.train(CONFIG)
    losses = [r["val_loss"] for r in reports]
    assert len(losses) == 3
    assert losses[0] > losses[1] > losses[2]
    # Predicting the training set's mean image for every validation image scores 0.074.
    x_train, _, x_val, _ = autoencoder.load_data()
    mean_image = ((x_val - x_train.mean(0)) ** 2).mean().item()
    assert losses[-1] < 0.7 * mean_image
    assert [r["checkpoint"]["epoch"] for r in reports] == [0, 1, 2]
    assert set(reports[-1]["checkpoint"]) == {"model", "optimizer", "epoch"}


def test_train_runs_by_hand_outside_a_trial(reports_passed_on):
    autoencoder.train({**CONFIG, "depth": 3, "double": True, "epochs": 2})
    assert len(reports_passed_on) == 2  # one report per epoch, from a fresh start
    for epoch, r in enumerate(reports_passed_on):
        assert math.isfinite(r["val_loss"]) and r["val_loss"] > 0
        assert r["checkpoint"]["epoch"] == epoch and set(r["checkpoint"]) == {"model", "optimizer", "epoch"}
