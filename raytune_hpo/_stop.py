"""The stopping rules of every experiment, besides its scheduler's, and the signals that stop it.

A trial ends at ``max_t`` iterations, or at its first report whose objective (any of them) is
NaN or infinite: it diverged, training it on wastes the budget, and it can never be the best.
A report without one of the objectives or constrained metrics stops the experiment, as Ray Tune
does for its one metric (:func:`raytune_hpo._failures.metric_missing` says it in one line).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from ray.tune.stopper import Stopper

from raytune_hpo._objectives import Objectives
from raytune_hpo.results import is_metric, is_non_finite


class Guard(Stopper):
    """Ends a trial at ``max_t`` iterations or at its first non-finite objective."""

    def __init__(self, objectives: Objectives, max_t: int | None = None):
        self.objectives, self.max_t = objectives, max_t

    def __call__(self, trial_id: str, result: dict) -> bool:
        reported = self.objectives.reported
        if len(reported) > 1 and any(is_metric(k, v) for k, v in result.items()):
            missing = [m for m in reported if m not in result]
            if missing:  # Ray Tune's own words for its one metric, read by _failures.metric_missing
                metrics = {k: v for k, v in result.items() if k != "config"}
                raise ValueError(
                    f"Trial returned a result which did not include the specified metric(s) `{missing[0]}` "
                    f"that `{type(self).__name__}` expects. Result: {metrics}"
                )
        at_max_t = self.max_t is not None and result.get("training_iteration", 0) >= self.max_t
        return at_max_t or any(is_non_finite(result.get(m)) for m in self.objectives.metrics)

    def stop_all(self) -> bool:
        return False


_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class StopSignals:
    """While the experiment runs: Ctrl-C (SIGINT), SIGTERM and a closed terminal (SIGHUP) stop
    it as SLURM's time-limit warning does, through Ray Tune's own "save and stop" signal,
    SIGUSR1: the state saved, unfinished trials left to ``resume``. A second one stops it at
    once (a ``KeyboardInterrupt``; the journal is whole, and the snapshot the last one taken).
    Every handler is put back as it was afterwards, Ray's SIGUSR1 handler too. Outside the
    main thread, where Python cannot handle signals, nothing is installed."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in (*_STOP_SIGNALS, "SIGUSR1"):
            number = getattr(signal, name)
            self._saved[number] = signal.getsignal(number)
        for name in _STOP_SIGNALS:
            signal.signal(getattr(signal, name), self._handle)
        return self

    def _handle(self, number: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(number).name
        ray_handler = signal.getsignal(signal.SIGUSR1)  # installed by Ray Tune once it runs
        if callable(ray_handler) and ray_handler is not self._saved.get(signal.SIGUSR1):
            ray_handler(signal.SIGUSR1, frame)
        else:  # Ray Tune is not running trials yet (or any more): nothing to save
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        for number, handler in self._saved.items():
            signal.signal(number, handler)
