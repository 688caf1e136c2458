"""``threshold``: early stopping by fixed rules, each optional, any combined; a trial is stopped
at the first report at which one of them says so:

(a) ``thresholds``: ``[{"at": 5, "worse_than": 0.5}, ...]``: a trial whose metric, reported at
    iteration ``at``, is worse than ``worse_than`` (above it under mode min, below it under
    max; NaN is worse than anything) is stopped there.
(b) ``iteration_fraction``: f in (0, 1]: every trial is stopped after ceil(f × max_t)
    iterations. ``time_fraction``: f in (0, 1]: a trial is stopped at the first report at which
    its own training time (Ray's ``time_total_s``, summed over its restarts) has reached
    f × ``time_budget_s``, so that no trial takes more than that share of the experiment's
    time budget. (The one rule in seconds; all others count iterations.)
(c) ``milestones`` with ``percentile``: at each milestone iteration m, a trial is stopped if at
    least (100 − percentile) % of the trials that have reported iteration m so far, itself
    included, did better there — it is in the worst ``percentile`` % of them — once at least
    ``min_samples_required`` trials have (default 3). Trials are compared as they arrive, as in
    the median rule: ``percentile=50`` stops a trial worse than the median.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from raytune_hpo._options import Option, OptionTable, is_int, is_number
from raytune_hpo._ray.controller import ControllerHooks
from raytune_hpo.errors import ConfigError
from raytune_hpo.schedulers._common import TIME_ATTR, Objective, SchedulerRequest


class ThresholdStopping(ControllerHooks, Objective, FIFOScheduler):
    def __init__(
        self,
        thresholds: list[tuple[int, float]],
        iteration_limit: int | None,
        time_limit_s: float | None,
        milestones: list[int],
        percentile: float | None,
        min_samples_required: int,
    ):
        super().__init__()
        self._thresholds = thresholds
        self._iteration_limit = iteration_limit
        self._time_limit_s = time_limit_s
        self._milestones = set(milestones)
        self._percentile = percentile
        self._min_samples = min_samples_required
        self._at: dict[int, dict[str, float]] = defaultdict(dict)  # milestone -> trial -> score

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        iteration = result[TIME_ATTR]
        score = self.score(result.get(self._metric))
        for at, bound in self._thresholds:
            if iteration == at and score < self.score(bound):
                return TrialScheduler.STOP
        if self._iteration_limit is not None and iteration >= self._iteration_limit:
            return TrialScheduler.STOP
        if self._time_limit_s is not None and result.get("time_total_s", 0.0) >= self._time_limit_s:
            return TrialScheduler.STOP
        if iteration in self._milestones:
            scores = self._at[iteration]
            scores.setdefault(trial.trial_id, score)  # a restarted trial keeps its first
            if self._percentile is not None and len(scores) >= self._min_samples:  # set with milestones
                better = sum(s > scores[trial.trial_id] for s in scores.values())
                if better * 100 >= (100 - self._percentile) * len(scores):
                    return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return "Using threshold early stopping."


def _iteration(field: str, value: Any) -> int:
    if not is_int(value) or value < 1:
        raise ConfigError(f"{field}: must be an iteration, an integer >= 1, got {value!r}")
    return value


def _thresholds(field: str, given: Any) -> list[tuple[int, float]]:
    """``[{'at': ITERATION, 'worse_than': VALUE}, ...]`` (or one such dict) as (at, bound) pairs."""
    if given is None:
        return []
    if isinstance(given, dict):
        given = [given]
    if not isinstance(given, (list, tuple)) or not given:
        raise ConfigError(f"{field}: must be a list like [{{'at': 5, 'worse_than': 0.5}}], got {given!r}")
    thresholds = []
    for i, rule in enumerate(given):
        where = f"{field}[{i}]"
        if not isinstance(rule, dict) or set(rule) != {"at", "worse_than"}:
            raise ConfigError(f"{where}: must be {{'at': ITERATION, 'worse_than': VALUE}}, got {rule!r}")
        if not is_number(rule["worse_than"]):
            raise ConfigError(f"{where}.worse_than: must be a number, got {rule['worse_than']!r}")
        thresholds.append((_iteration(f"{where}.at", rule["at"]), float(rule["worse_than"])))
    return thresholds


def _milestones(field: str, given: Any) -> list[int] | None:
    if given is None:
        return None
    if is_int(given):
        given = [given]
    if not isinstance(given, (list, tuple)) or not given:
        raise ConfigError(f"{field}: must be a list of iterations, got {given!r}")
    return [_iteration(f"{field}[{i}]", m) for i, m in enumerate(given)]


def _percentile(field: str, value: Any) -> float | None:
    if value is not None and (not is_number(value) or not 0 < value < 100):
        raise ConfigError(f"{field}: must be a number between 0 and 100 (the worst share stopped, in %), got {value!r}")
    return value


OPTIONS = OptionTable(
    [
        Option("thresholds", list, check=_thresholds, help="stop a trial worse than a value at an iteration"),
        Option("iteration_fraction", float, above=0, high=1, help="stop every trial at this share of max_t"),
        Option("time_fraction", float, above=0, high=1, help="stop every trial at this share of time_budget_s"),
        Option("milestones", list, check=_milestones, help="iterations where the worst percentile stops"),
        Option("percentile", float, check=_percentile, help="the worst share (%) stopped at each milestone"),
        Option("min_samples_required", int, default=3, low=1, help="trials seen at a milestone before stopping"),
    ]
)


def build_threshold(request: SchedulerRequest):
    options = request.checked_options(OPTIONS)
    if not any(options[rule] for rule in ("thresholds", "iteration_fraction", "time_fraction", "milestones")):
        raise ConfigError(
            "scheduler_options: scheduler 'threshold' needs at least one rule: thresholds, "
            "iteration_fraction, time_fraction or milestones (with percentile)"
        )
    iteration_limit = None
    if options["iteration_fraction"] is not None:
        if request.max_t is None:
            raise ConfigError("max_t: scheduler 'threshold' with iteration_fraction needs max_t")
        iteration_limit = max(1, math.ceil(options["iteration_fraction"] * request.max_t - 1e-9))
    time_limit_s = None
    if options["time_fraction"] is not None:
        if request.time_budget_s is None:
            raise ConfigError("time_budget_s: scheduler 'threshold' with time_fraction needs time_budget_s")
        time_limit_s = options["time_fraction"] * request.time_budget_s
    milestones, percentile = options["milestones"], options["percentile"]
    if (milestones is None) != (percentile is None):
        raise ConfigError(
            "scheduler_options: 'milestones' and 'percentile' go together, e.g. "
            "milestones=[3, 6], percentile=25 (stop the worst 25 % at iterations 3 and 6)"
        )
    return ThresholdStopping(
        options["thresholds"],
        iteration_limit,
        time_limit_s,
        milestones or [],
        percentile,
        options["min_samples_required"],
    )
