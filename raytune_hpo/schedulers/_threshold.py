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

from raytune_hpo.errors import ConfigError
from raytune_hpo._controller import ControllerHooks
from raytune_hpo.schedulers._common import TIME_ATTR, Objective, SchedulerRequest
from raytune_hpo.schedulers._sha import _is_number


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
            if len(scores) >= self._min_samples:
                better = sum(s > scores[trial.trial_id] for s in scores.values())
                if better * 100 >= (100 - self._percentile) * len(scores):
                    return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return "Using threshold early stopping."


def _threshold_options(
    thresholds: Any = None,
    iteration_fraction: Any = None,
    time_fraction: Any = None,
    milestones: Any = None,
    percentile: Any = None,
    min_samples_required: Any = 3,
) -> None:
    """The options of ``threshold`` (checked by name)."""


def _fraction(field: str, value: Any) -> float:
    if not _is_number(value) or not 0 < value <= 1:
        raise ConfigError(f"scheduler_options.{field}: must be a number in (0, 1], got {value!r}")
    return float(value)


def _iteration(field: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"scheduler_options.{field}: must be an iteration, an integer >= 1, got {value!r}")
    return value


def build_threshold(request: SchedulerRequest):
    options = request.library_options(_threshold_options, defaults={"min_samples_required": 3})
    get = options.get
    rules = ("thresholds", "iteration_fraction", "time_fraction", "milestones")
    if all(get(rule) is None for rule in rules):
        raise ConfigError(
            "scheduler_options: scheduler 'threshold' needs at least one rule: thresholds, "
            "iteration_fraction, time_fraction or milestones (with percentile)"
        )

    thresholds = []
    given = get("thresholds")
    if given is not None:
        if isinstance(given, dict):
            given = [given]
        if not isinstance(given, (list, tuple)) or not given:
            raise ConfigError(
                "scheduler_options.thresholds: must be a list like [{'at': 5, 'worse_than': 0.5}], "
                f"got {given!r}"
            )
        for i, rule in enumerate(given):
            field = f"thresholds[{i}]"
            if not isinstance(rule, dict) or set(rule) != {"at", "worse_than"}:
                raise ConfigError(
                    f"scheduler_options.{field}: must be {{'at': ITERATION, 'worse_than': VALUE}}, got {rule!r}"
                )
            if not _is_number(rule["worse_than"]):
                raise ConfigError(
                    f"scheduler_options.{field}.worse_than: must be a number, got {rule['worse_than']!r}"
                )
            thresholds.append((_iteration(f"{field}.at", rule["at"]), float(rule["worse_than"])))

    iteration_limit = None
    if get("iteration_fraction") is not None:
        fraction = _fraction("iteration_fraction", get("iteration_fraction"))
        if request.max_t is None:
            raise ConfigError("max_t: scheduler 'threshold' with iteration_fraction needs max_t")
        iteration_limit = max(1, math.ceil(fraction * request.max_t - 1e-9))

    time_limit_s = None
    if get("time_fraction") is not None:
        fraction = _fraction("time_fraction", get("time_fraction"))
        if request.time_budget_s is None:
            raise ConfigError("time_budget_s: scheduler 'threshold' with time_fraction needs time_budget_s")
        time_limit_s = fraction * request.time_budget_s

    milestones, percentile = [], get("percentile")
    if get("milestones") is not None or percentile is not None:
        given = get("milestones")
        if given is None or percentile is None:
            raise ConfigError(
                "scheduler_options: 'milestones' and 'percentile' go together, e.g. "
                "milestones=[3, 6], percentile=25 (stop the worst 25 % at iterations 3 and 6)"
            )
        if isinstance(given, int) and not isinstance(given, bool):
            given = [given]
        if not isinstance(given, (list, tuple)) or not given:
            raise ConfigError(f"scheduler_options.milestones: must be a list of iterations, got {given!r}")
        milestones = [_iteration(f"milestones[{i}]", m) for i, m in enumerate(given)]
        if not _is_number(percentile) or not 0 < percentile < 100:
            raise ConfigError(
                f"scheduler_options.percentile: must be a number between 0 and 100 (the worst "
                f"share stopped, in %), got {percentile!r}"
            )
    min_samples = get("min_samples_required")
    if not isinstance(min_samples, int) or isinstance(min_samples, bool) or min_samples < 1:
        raise ConfigError(
            f"scheduler_options.min_samples_required: must be an integer >= 1, got {min_samples!r}"
        )
    return ThresholdStopping(thresholds, iteration_limit, time_limit_s, milestones, percentile, min_samples)
