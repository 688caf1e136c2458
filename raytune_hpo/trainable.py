"""Adapts a user's training function to a Ray Tune trainable.

Inside the function, two calls are all there is to learn::

    def train(config):
        state = hpo.load_checkpoint()      # None, or the dict last saved (retry, resume, PBT exploit)
        start = 0 if state is None else state["epoch"] + 1
        for epoch in range(start, config["epochs"]):
            ...
            hpo.report(loss=val_loss, checkpoint={"model": model.state_dict(), "epoch": epoch})

A checkpoint is any dict ``torch.save`` can write (tensors and state_dicts included). A function
that returns a dict instead of reporting works too: the dict is reported once, as its result.
Outside a trial (calling ``train`` by hand to debug it) ``report`` does nothing and
``load_checkpoint`` returns None.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import re
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

CHECKPOINT_FILE = "checkpoint.pt"
SLURM_NODE = os.environ.get("SLURMD_NODENAME")  # set in Ray workers started by `raytune-hpo cluster up`


class TrialDone(Exception):
    """Raised by ``report`` in a :class:`LocalTrial` that reached its last iteration."""


class LocalTrial:
    """A trial run in this process, without Ray (``raytune-hpo rerun``, the optimiser
    benchmark's reference implementations): reports are kept in ``reports``, the last checkpoint
    in ``checkpoint``; the report that reaches ``max_iterations`` ends the trial (``report``
    raises :class:`TrialDone`). A trial that goes on from ``checkpoint``, saved after
    ``done`` iterations, gets it from :func:`load_checkpoint` and numbers its reports from
    ``done + 1``."""

    def __init__(self, max_iterations: int | None = None, checkpoint: dict | None = None, done: int = 0) -> None:
        self.reports: list[dict] = []
        self.checkpoint = checkpoint
        self.max_iterations = max_iterations
        self.resumed_from = checkpoint
        self.done = done

    def __enter__(self) -> LocalTrial:
        global _local_trial
        _local_trial = self
        return self

    def __exit__(self, *exc: Any) -> None:
        global _local_trial
        _local_trial = None


_local_trial: LocalTrial | None = None


def _in_trial() -> bool:
    from raytune_hpo._ray.session import in_trial  # imports Ray: not at raytune_hpo's import

    return in_trial()


def report(checkpoint: Mapping[str, Any] | None = None, **metrics: Any) -> None:
    """Report this iteration's metrics (one call = one training iteration), with an optional
    checkpoint dict that :func:`load_checkpoint` gives back to a retried, resumed or (PBT)
    exploiting trial."""
    if _local_trial is not None:
        iteration = _local_trial.done + len(_local_trial.reports) + 1
        _local_trial.reports.append({**metrics, "training_iteration": iteration})
        _local_trial.checkpoint = dict(checkpoint) if checkpoint is not None else _local_trial.checkpoint
        if _local_trial.max_iterations and iteration >= _local_trial.max_iterations:
            raise TrialDone
        return
    if not _in_trial():
        return
    from ray import tune

    if SLURM_NODE:
        # Ray records the host; on a SLURM allocation the node's name is what the user knows.
        metrics = {**metrics, "node": SLURM_NODE}
    if checkpoint is None:
        tune.report(metrics)
        return
    import torch

    # Ray copies the directory into the trial's storage before report() returns.
    with tempfile.TemporaryDirectory(prefix="hpo-ckpt-") as directory:
        torch.save(dict(checkpoint), os.path.join(directory, CHECKPOINT_FILE))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def load_checkpoint() -> dict | None:
    """The dict this trial saved last, or that PBT handed over from a better trial; None for a
    fresh trial."""
    if _local_trial is not None:
        return _local_trial.resumed_from
    if not _in_trial():
        return None
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        return load_checkpoint_file(os.path.join(directory, CHECKPOINT_FILE))


def load_checkpoint_file(path: str) -> dict:
    import torch

    # Our own files: full unpickling, so optimizer states and NumPy values come back too.
    return torch.load(path, weights_only=False)


_CACHE: dict[Any, Any] = {}


def cache(key: Any, factory: Callable[[], Any]) -> Any:
    """The value cached under ``key`` in this worker process, made by ``factory()`` the first
    time. Workers run trial after trial, so a data set (on the GPU, if that is where the
    factory puts it), a tokenizer or any other trial-independent state is built once per
    worker instead of once per trial::

        x_train, y_train = hpo.cache("digits", lambda: load_digits_tensors(device="cuda"))

    The key must say everything the value depends on (e.g. ``("digits", device)``)."""
    if key not in _CACHE:
        _CACHE[key] = factory()
    return _CACHE[key]


def trial_index(trial_name: str) -> int:
    """The trial's number within its experiment (1, 2, ...), from the name Ray gives it."""
    match = re.match(r"trial_(\d+)_", trial_name)
    return int(match.group(1)) if match else 0


def trial_seed(seed: int, index: int) -> int:
    """A seed for trial ``index`` of an experiment seeded with ``seed``: distinct per trial,
    the same for the same trial on every run."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators in this process."""
    random.seed(seed)
    np.random.seed(seed)
    import torch

    torch.manual_seed(seed)  # every device, CUDA included


def as_trainable(function: Callable[[dict], Any], seed: int | None) -> Callable[[dict], None]:
    """``function`` as a Ray Tune function trainable: seeded per trial, and a returned dict
    reported as the trial's last result."""

    @functools.wraps(function)
    def trainable(config: dict) -> None:
        from raytune_hpo._ray.worker import resend_lost_sigterm_exits

        resend_lost_sigterm_exits()
        # Ray logs every checkpoint it saves or restores at INFO: lines per epoch per trial.
        for logger in ("ray.train", "ray.tune"):
            logging.getLogger(logger).setLevel(logging.WARNING)
        if seed is not None:
            from ray import tune

            seed_everything(trial_seed(seed, trial_index(tune.get_context().get_trial_name())))
        result = function(config)
        if isinstance(result, Mapping):
            report(**result)

    del trainable.__wrapped__  # Ray inspects the signature: it must be this one, (config)
    return trainable
