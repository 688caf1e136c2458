"""The stopping rules of every experiment, besides its scheduler's.

A trial ends at ``max_t`` iterations, or at its first report whose metric is NaN or infinite:
it diverged, training it on wastes the budget, and it can never be the best.

An experiment keeps room to save its state: a full disk cuts Ray Tune's experiment state short
as it is copied, and nothing could be resumed. While it runs, ``RESERVE_BYTES`` of its storage
are held in ``hpo.reserve`` (:func:`hold_reserve`); once less than as much again is free
(:class:`LowSpace`), the reserve is released and the experiment interrupted as on a SLURM
time-limit warning: Ray Tune saves the state, unfinished trials stay unfinished, and
:func:`raytune_hpo.resume` continues them once space is freed.
"""

from __future__ import annotations

import glob
import os
import pickle
import signal
import threading
import time

from ray.tune import Callback
from ray.tune.stopper import Stopper

from raytune_hpo.results import is_non_finite
from raytune_hpo.directory import RESERVE_FILE
from raytune_hpo.runner import RESERVE_BYTES, free_bytes

_CHECK_EVERY_S = 0.5
# The experiments that LowSpace interrupted in this process, with the bytes free then.
TRIPPED: dict[str, int] = {}


class Guard(Stopper):
    """Ends a trial at ``max_t`` iterations or at its first non-finite ``metric``."""

    def __init__(self, metric: str, max_t: int | None = None):
        self.metric, self.max_t = metric, max_t

    def __call__(self, trial_id: str, result: dict) -> bool:
        at_max_t = self.max_t is not None and result.get("training_iteration", 0) >= self.max_t
        return at_max_t or is_non_finite(result.get(self.metric))

    def stop_all(self) -> bool:
        return False


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
    is Ray Tune's own "save and stop" signal, SIGUSR1."""

    def __init__(self, path: str):
        self.path = path
        self._checked = 0.0

    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        if time.monotonic() - self._checked >= _CHECK_EVERY_S:
            self._check()

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        self._check()

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self._check()

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self._check()

    def _check(self) -> None:
        self._checked = time.monotonic()
        if self.path in TRIPPED:
            return
        free = free_bytes(self.path)
        # Ray Tune listens to SIGUSR1 when it runs in the main thread (not in a notebook's
        # background thread, say; the experiment runs on then).
        handled = threading.current_thread() is threading.main_thread() and signal.getsignal(
            signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        if free is None or free >= 2 * RESERVE_BYTES or not handled:
            return
        TRIPPED[self.path] = free
        release_reserve(self.path)  # room for the state's last save
        remove_damaged_error_pickles(self.path)
        os.kill(os.getpid(), signal.SIGUSR1)
