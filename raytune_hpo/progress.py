"""A compact live view of a running experiment, instead of Ray's log flood::

    [00:00:41] trials 3 running, 12 done (4 stopped early), 0 errored of 30 | iterations 210 of at most 600, at most ~1m10s left | best val_loss 0.0312 (trial_00007_...) {lr: 0.013, ...}

One line every few seconds (rewritten in place on a terminal), and a last one at the end. The
time left is an upper bound: the budget not yet spent (``num_samples`` × ``max_t`` iterations,
less what early stopping saves) at the pace so far.
"""

from __future__ import annotations

import math
import sys
import time

from ray.tune import Callback


class Progress(Callback):
    def __init__(self, metric: str, mode: str, num_samples: int, max_t: int | None = None, every_s: float = 5.0):
        self.metric, self.mode, self.num_samples, self.every_s = metric, mode, num_samples, every_s
        self.max_t = max_t
        self.best: tuple[float, str, dict] | None = None
        self.iterations: dict[str, int] = {}
        self.max_iterations = 0
        self._start = time.monotonic()
        self._last = 0.0

    def on_trial_result(self, iteration, trials, trial, result, **info):
        value = result.get(self.metric)
        self.iterations[trial.trial_id] = result.get("training_iteration", 0)
        self.max_iterations = max(self.max_iterations, self.iterations[trial.trial_id])
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        better = self.best is None or (value < self.best[0] if self.mode == "min" else value > self.best[0])
        if better:
            self.best = (value, str(trial), dict(result.get("config", {})))

    def on_step_end(self, iteration, trials, **info):
        if time.monotonic() - self._last >= self.every_s:
            self._show(trials, final=False)

    def on_experiment_end(self, trials, **info):
        self._show(trials, final=True)

    def line(self, trials) -> str:
        states = [t.status for t in trials]
        done = [t for t in trials if t.status == "TERMINATED"]
        stopped = sum(0 < self.iterations.get(t.trial_id, 0) < self.max_iterations for t in done)
        elapsed = int(time.monotonic() - self._start)
        text = (
            f"[{elapsed // 3600:02d}:{elapsed % 3600 // 60:02d}:{elapsed % 60:02d}] trials "
            f"{states.count('RUNNING')} running, {len(done)} done ({stopped} stopped early), "
            f"{states.count('ERROR')} errored of {max(self.num_samples, len(trials))}"
        )
        spent = sum(self.iterations.values())
        if self.max_t and spent:
            # Finished trials will spend no more; the others, at most max_t each.
            finished = {t.trial_id for t in trials if t.status in ("TERMINATED", "ERROR")}
            left = sum(self.max_t - self.iterations.get(t.trial_id, 0) for t in trials if t.trial_id not in finished)
            left += self.max_t * max(self.num_samples - len(trials), 0)
            seconds = int((time.monotonic() - self._start) / spent * left)
            text += (f" | iterations {spent} of at most {spent + left}, at most ~"
                     f"{seconds // 60}m{seconds % 60:02d}s left")
        if self.best is not None:
            value, name, config = self.best
            shown = ", ".join(f"{k}: {_short(v)}" for k, v in list(config.items())[:6])
            text += f" | best {self.metric} {value:.4g} ({name}) {{{shown}}}"
        return text

    def _show(self, trials, final: bool) -> None:
        self._last = time.monotonic()
        text = self.line(trials)
        if sys.stdout.isatty() and not final:
            print("\r" + text[:200].ljust(200), end="", flush=True)
        else:
            print(("\r" if sys.stdout.isatty() else "") + text, flush=True)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)
