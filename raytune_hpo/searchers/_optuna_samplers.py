"""Optuna's samplers as Ray can pickle them.

Ray pickles a searcher, its Optuna sampler included, when an experiment starts (``tuner.pkl``)
and at every snapshot (the adapter's ``save``). Optuna 5.1's genetic samplers (NSGA-II and
NSGA-III) guard their generation cache with a ``threading.Lock``, which pickle refuses
(``cannot pickle '_thread.lock' object``). Here they leave the lock out of their state and make
a new one when restored: a lock held by nobody, as it is between two calls. The cache it guards
is pickled with the study it describes. The classes keep Optuna's names, which Optuna uses in
the keys it stores on trials (``NSGAIISampler:generation``).

Imported only once ``optuna`` is known to be installed (:func:`._optuna.optuna_searcher`).
"""

from __future__ import annotations

import threading
from typing import Any

import optuna


class _LockLeftOut:
    """Pickles without ``_thread_lock``; a new, free lock is made on restore."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()


class NSGAIISampler(_LockLeftOut, optuna.samplers.NSGAIISampler):
    pass


class NSGAIIISampler(_LockLeftOut, optuna.samplers.NSGAIIISampler):
    pass


def picklable_sampler(name: str) -> Any:
    """``optuna.samplers.<name>``, or its picklable form above where it needs one."""
    return globals().get(name) or getattr(optuna.samplers, name)
