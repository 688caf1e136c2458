"""A compact live view of a running experiment, instead of Ray's log flood (one line, folded here)::

    [00:00:41] trials 3 running, 12 done (4 stopped early), 0 errored of 30 | iterations 210 of
    at most 600, at most ~1m10s left | best val_loss 0.0312 (trial_00007_...) {lr: 0.013, ...}

One line every few seconds (rewritten in place on a terminal), and a last one at the end. The
time left is an upper bound: the budget not yet spent (the planned trials × ``max_t``
iterations, less what early stopping saves) at the pace so far. Every count is kept up event by
event, so that a line costs the same at trial 10 and at trial 10,000; a resumed experiment
starts from the counts of its journal. A terminal that went away (a closed SSH session) ends
the lines, not the experiment.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from ray.tune import Callback

from raytune_hpo._objectives import Objectives, Vector, join_front
from raytune_hpo._options import is_number
from raytune_hpo.directory import JournalContents

if TYPE_CHECKING:
    from ray.tune.experiment import Trial


class Progress(Callback):
    def __init__(
        self,
        objectives: Objectives,
        planned: int,
        max_t: int | None = None,
        every_s: float = 5.0,
        before: JournalContents | None = None,
    ):
        self.objectives, self.planned, self.max_t, self.every_s = objectives, planned, max_t, every_s
        self.metric, self.mode = objectives.primary, objectives.primary_mode
        self.best: tuple[float, str, dict] | None = None
        # Several objectives: the front of the ended trials (their last reports), and each
        # running trial's largest violation so far.
        self.front: dict[str, Vector] = {}  # trial id -> its last report's objectives
        self._violation: dict[str, float] = {}
        self.current: dict[str, int] = {}  # the trials started and not ended: their iterations
        self._trials: dict[str, Trial] = {}  # and the trials themselves
        self.done = self.errored = self.stopped_early = self.spent = 0
        self.most_iterations = 0
        for record in before.trials.values() if before else ():
            if record.status in ("TERMINATED", "ERROR"):
                self._ended(record.status == "ERROR", record.iterations or 0)
                if record.best is not None:
                    self._better(record.best[1], record.name, record.config)
                if record.last is not None and not record.violation:
                    self._onto_front(record.trial_id, self.objectives.values(record.last))
        self._start = time.monotonic()
        self._last = 0.0
        self._silent = False

    def _better(self, value: float, name: str, config: dict) -> None:
        if self.best is None or (value < self.best[0] if self.mode == "min" else value > self.best[0]):
            self.best = (value, name, config)

    def _onto_front(self, trial_id: str, values: Vector | None) -> None:
        if values is not None:
            join_front(self.front, trial_id, values)

    def _ended(self, errored: bool, iterations: int) -> None:
        if errored:
            self.errored += 1
            return
        self.done += 1
        self.most_iterations = max(self.most_iterations, iterations)
        self.stopped_early += 0 < iterations < (self.max_t or self.most_iterations)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.current.setdefault(trial.trial_id, (trial.last_result or {}).get("training_iteration", 0))
        self._trials[trial.trial_id] = trial

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.current[trial.trial_id] = result.get("training_iteration", 0)
        self._trials[trial.trial_id] = trial
        self.spent += 1
        value = result.get(self.metric)
        if is_number(value):
            self._better(value, str(trial), dict(result.get("config", {})))
        if self.objectives.several:
            self.objectives.largest_violation(self._violation, trial.trial_id, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._trials.pop(trial.trial_id, None)
        if self.objectives.several and not self._violation.pop(trial.trial_id, 0.0):
            self._onto_front(trial.trial_id, self.objectives.values(trial.last_result or {}))
        self._ended(False, self.current.pop(trial.trial_id, 0))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._trials.pop(trial.trial_id, None)
        self._violation.pop(trial.trial_id, None)
        self._ended(True, self.current.pop(trial.trial_id, 0))

    def on_step_end(self, iteration, trials, **info):
        for trial in [t for t in self._trials.values() if t.is_finished()]:  # ended with the experiment
            (self.on_trial_error if trial.status == "ERROR" else self.on_trial_complete)(iteration, trials, trial)
        if time.monotonic() - self._last >= self.every_s:
            self._show(final=False)

    def on_experiment_end(self, trials, **info):
        self._show(final=True)

    def line(self) -> str:
        elapsed = int(time.monotonic() - self._start)
        text = (
            f"[{elapsed // 3600:02d}:{elapsed % 3600 // 60:02d}:{elapsed % 60:02d}] trials "
            f"{len(self.current)} running, {self.done} done ({self.stopped_early} stopped early), "
            f"{self.errored} errored of {max(self.planned, self.done + self.errored + len(self.current))}"
        )
        if self.max_t and self.spent:
            # Finished trials will spend no more; the others, at most max_t each.
            waiting = max(self.planned - self.done - self.errored - len(self.current), 0)
            left = sum(self.max_t - it for it in self.current.values()) + self.max_t * waiting
            seconds = int((time.monotonic() - self._start) / self.spent * left)
            text += (
                f" | iterations {self.spent} of at most {self.spent + left}, at most ~"
                f"{seconds // 60}m{seconds % 60:02d}s left"
            )
        if self.objectives.several:
            text += f" | Pareto front of {len(self.front)} trials ({', '.join(self.objectives.metrics)})"
        elif self.best is not None:
            value, name, config = self.best
            shown = ", ".join(f"{k}: {_short(v)}" for k, v in list(config.items())[:6])
            text += f" | best {self.metric} {value:.4g} ({name}) {{{shown}}}"
        return text

    def _show(self, final: bool) -> None:
        self._last = time.monotonic()
        if self._silent:
            return
        text = self.line()
        try:
            if sys.stdout.isatty() and not final:
                print("\r" + text[:200].ljust(200), end="", flush=True)
            else:
                print(("\r" if sys.stdout.isatty() else "") + text, flush=True)
        except (OSError, ValueError):  # the terminal is gone (EIO), or stdout closed
            self._silent = True


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)
