"""A convolutional autoencoder on scikit-learn's 8×8 digits (shipped with scikit-learn: nothing is
downloaded), with the digits CNN's fixed split (1,437 images to train on, 360 to validate on;
the labels are not used).

The encoder has ``depth`` blocks, each a 3×3 convolution (two with ``double``, and a shortcut
around them with ``residual``) followed by 2×2 max pooling, from 8×8 down to 8 / 2**depth; a
linear layer maps that to ``latent_dim`` numbers, and the decoder mirrors the encoder with
nearest-neighbour upsampling, ending in a sigmoid (the pixels are in [0, 1]).

``train(config)`` reports ``val_loss``, the validation reconstruction's mean squared error per
pixel, after every epoch, with a checkpoint (model, optimizer, epoch) from which a retried,
resumed or PBT-exploiting trial continues.
"""

from __future__ import annotations

import torch
from torch import nn

import raytune_hpo as hpo
from experiments._training import device, fit
from experiments.digits import load_data

SPACE = {
    "latent_dim": hpo.choice([4, 8, 16, 32]),
    "depth": hpo.randint(1, 4),  # 1, 2 or 3 blocks: 3 pools the 8×8 images down to 1×1
    "lr": hpo.loguniform(1e-4, 1e-2),
    "residual": hpo.choice([True, False]),
    "double": hpo.choice([True, False]),
    "batch_size": 64,
    "epochs": 15,
}

WIDTHS = (16, 32, 64)  # channels of blocks 1, 2, 3: more channels as the images shrink


class ConvBlock(nn.Module):
    """One or two 3×3 convolutions with ReLU; with ``residual``, plus a shortcut from the input
    (a 1×1 convolution where the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int, double: bool, residual: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
        if double:
            layers += [nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module | None = None
        if residual:
            self.shortcut = (
                nn.Identity() if in_channels == out_channels
                else nn.Conv2d(in_channels, out_channels, 1)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y if self.shortcut is None else y + self.shortcut(x)


class Autoencoder(nn.Module):
    def __init__(self, latent_dim: int, depth: int, residual: bool, double: bool):
        super().__init__()
        if not 1 <= depth <= len(WIDTHS):
            raise ValueError(f"depth must be 1 to {len(WIDTHS)}, got {depth}")
        widths = WIDTHS[:depth]
        side = 8 // 2**depth
        flat = widths[-1] * side * side

        encoder: list[nn.Module] = []
        for c_in, c_out in zip((1,) + widths[:-1], widths):
            encoder += [ConvBlock(c_in, c_out, double, residual), nn.MaxPool2d(2)]
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), nn.Linear(flat, latent_dim))

        decoder: list[nn.Module] = [
            nn.Linear(latent_dim, flat), nn.ReLU(), nn.Unflatten(1, (widths[-1], side, side))
        ]
        for c_in, c_out in zip(widths[::-1], widths[::-1][1:] + (widths[0],)):
            decoder += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                ConvBlock(c_in, c_out, double, residual),
            ]
        # No ReLU before the output: the sigmoid needs negative inputs for dark pixels.
        self.decoder = nn.Sequential(*decoder, nn.Conv2d(widths[0], 1, 3, padding=1), nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 8, 8) images to (N, latent_dim) codes."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, latent_dim) codes to (N, 1, 8, 8) images in [0, 1]."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def build_model(latent_dim: int, depth: int, residual: bool, double: bool) -> Autoencoder:
    return Autoencoder(latent_dim, depth, residual, double)


def train(config: dict) -> None:
    on = device()
    x_train, _, x_val, _ = (t.to(on) for t in load_data())
    model = build_model(config["latent_dim"], config["depth"], config["residual"], config["double"]).to(on)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    # The targets are the inputs: validation reconstruction loss.
    fit(config, model, optimizer, (x_train, x_train), (x_val, x_val), nn.MSELoss(), {"lr": config["lr"]})
