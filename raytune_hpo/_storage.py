"""The room an experiment keeps on its storage to save its state.

A full disk cuts Ray Tune's experiment state short as it is copied, and nothing could be
resumed. So an experiment does not start with less than ``2 * RESERVE_BYTES`` free; while it
runs, ``RESERVE_BYTES`` of its storage are held in ``hpo.reserve`` (:func:`hold_reserve`); once
less than as much again is free (:class:`LowSpace`), the reserve is released and the experiment
interrupted as on a SLURM time-limit warning: Ray Tune saves the state, unfinished trials stay
unfinished, and :func:`raytune_hpo.resume` continues them once space is freed.
"""

from __future__ import annotations

import glob
import os
import pickle
import shutil
import signal
import threading
import time
from typing import Any

from ray.tune import Callback

from raytune_hpo.directory import RESERVE_FILE
from raytune_hpo.errors import ConfigError

RESERVE_BYTES = 16 * 2**20
_CHECK_EVERY_S = 0.5


def free_bytes(path: str) -> int | None:
    """The space left to this user on the filesystem of ``path``, the reserve an experiment
    holds there included; None where it cannot be read."""
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return None
    try:
        return free + os.path.getsize(os.path.join(path, RESERVE_FILE))
    except OSError:  # no reserve held there
        return free


def check_free_space(path: str, fix: str) -> None:
    """Refuse to start with less free space than an experiment keeps to save its state."""
    free = free_bytes(path)
    if free is not None and free < 2 * RESERVE_BYTES:
        raise ConfigError(
            f"storage: only {free / 2**20:.1f} MiB free on the filesystem of {path!r}, under the "
            f"{2 * RESERVE_BYTES // 2**20} MiB an experiment keeps to save its state; {fix}"
        )


def check_writable(storage: str) -> None:
    """The storage folder made where missing, written to once, and with room for an experiment."""
    try:
        os.makedirs(storage, exist_ok=True)
        with open(os.path.join(storage, ".hpo-write-test"), "w"):
            pass
        os.remove(os.path.join(storage, ".hpo-write-test"))
    except OSError as e:
        raise ConfigError(f"storage: cannot write to {storage!r} ({e.strerror}); choose a writable directory") from None
    check_free_space(storage, "free space or choose another directory")


def hold_reserve(path: str) -> None:
    """Hold ``RESERVE_BYTES`` of the filesystem of the experiment ``path`` in its reserve file
    (where the filesystem cannot allocate space ahead, there is none: the free space is watched
    alone)."""
    reserve = os.path.join(path, RESERVE_FILE)
    try:
        descriptor = os.open(reserve, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.posix_fallocate(descriptor, 0, RESERVE_BYTES)
        finally:
            os.close(descriptor)
    except OSError:
        release_reserve(path)


def release_reserve(path: str) -> None:
    try:
        os.remove(os.path.join(path, RESERVE_FILE))
    except FileNotFoundError:
        pass


def remove_damaged_error_pickles(path: str) -> None:
    """A trial's ``error.pkl`` cut short (the disk was full when the trial failed) makes Ray
    Tune fail at the end of the run and of every resume: remove it; ``error.txt`` tells the
    error still."""
    import cloudpickle

    for pickled in glob.glob(os.path.join(path, "*", "error.pkl")):
        try:
            with open(pickled, "rb") as f:
                cloudpickle.load(f)
        except (EOFError, pickle.UnpicklingError):
            os.remove(pickled)
        except Exception:  # whole, but not loadable here (a module of the workers'): Ray's affair
            pass


class LowSpace(Callback):
    """Interrupts the experiment in ``path`` once its filesystem has less than
    ``2 * RESERVE_BYTES`` free, its reserve included: checked at each result and each trial's
    end, before Ray Tune saves the state they change, and every half second. The interruption
    is Ray Tune's own "save and stop" signal, SIGUSR1; ``tripped`` holds the bytes free then."""

    def __init__(self, path: str):
        self.path = path
        self.tripped: int | None = None
        self._checked = 0.0

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if time.monotonic() - self._checked >= _CHECK_EVERY_S:
            self._check()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._check()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._check()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._check()

    def _check(self) -> None:
        self._checked = time.monotonic()
        if self.tripped is not None:
            return
        free = free_bytes(self.path)
        # Ray Tune listens to SIGUSR1 when it runs in the main thread (not in a notebook's
        # background thread, say; the experiment runs on then).
        handled = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGUSR1) not in (
            signal.SIG_DFL,
            signal.SIG_IGN,
            None,
        )
        if free is None or free >= 2 * RESERVE_BYTES or not handled:
            return
        self.tripped = free
        release_reserve(self.path)  # room for the state's last save
        remove_damaged_error_pickles(self.path)
        os.kill(os.getpid(), signal.SIGUSR1)
