"""Hypergradients inside a trial: a searcher picks the discrete choices (width, depth, batch
size...), :class:`HyperGradient` tunes lr and weight decay while the trial trains, and every
epoch is reported with :func:`raytune_hpo.report` (with a checkpoint, so a retried or resumed
trial continues where it stopped)."""

from __future__ import annotations

from typing import Any

import torch

from raytune_hpo.gradient.hypergradient import Batch, HyperGradient
from raytune_hpo.trainable import load_checkpoint, report


def fit(
    hg: HyperGradient,
    train: Batch,
    val: Batch,
    *,
    epochs: int,
    batch_size: int = 64,
    val_batch_size: int | None = None,
    generator: torch.Generator | None = None,
    report_to_tune: bool = True,
) -> list[dict[str, Any]]:
    """Train for ``epochs`` epochs of shuffled ``batch_size`` mini-batches of ``train`` (inputs,
    targets), a hyperparameter update every ``hg.unroll`` batches on a random ``val_batch_size``
    subset of ``val`` (all of it by default); after each epoch, report ``val_loss`` (all of
    ``val``) and the hyperparameters' current values. Inside a trial it resumes from the
    trial's checkpoint; outside one, reporting does nothing. Returns the per-epoch records."""
    x_train, y_train = train
    x_val, y_val = val
    start = 0
    state = load_checkpoint() if report_to_tune else None
    if state is not None and "hypergradient" in state:
        hg.load_state_dict(state["hypergradient"])
        start = state["epoch"] + 1
    history = []
    for epoch in range(start, epochs):
        order = torch.randperm(len(x_train), generator=generator)
        batches = [(x_train[i], y_train[i]) for i in order.split(batch_size)]
        for w in range(0, len(batches), hg.unroll):
            if val_batch_size is None or val_batch_size >= len(x_val):
                val_batch = (x_val, y_val)
            else:
                pick = torch.randperm(len(x_val), generator=generator)[:val_batch_size]
                val_batch = (x_val[pick], y_val[pick])
            hg.step(batches[w : w + hg.unroll], val_batch)
        record = {"val_loss": hg.evaluate((x_val, y_val)), **hg.values()}
        history.append(record)
        if report_to_tune:
            report(**record, checkpoint={"hypergradient": hg.state_dict(), "epoch": epoch})
    return history
