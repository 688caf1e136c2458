"""The best result of an experiment as it went, against the budget spent: cumulative training
iterations (every report of every trial is one) and wall time.

Reports are put in the order they were made by their ``timestamp`` (Ray's, in whole seconds);
reports of the same second keep the order of the trials' numbers, which changes nothing of the
best at the end of that second. The hypervolume over budget of a multi-objective experiment
(:mod:`raytune_hpo.tracking._pareto`) reads the reports in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from raytune_hpo._options import is_number
from raytune_hpo.results import Results


@dataclass(frozen=True)
class BestSoFar:
    iterations: list[int]  # reports made so far, all trials together
    seconds: list[float]  # wall time since the first trial started
    values: list[float]  # the best finite metric so far; NaN before the first


@dataclass(frozen=True)
class Made:
    """One report, where it stands in the experiment's budget."""

    seconds: float  # wall time since the first trial started
    trial: int  # the trial's index in ``results.trials``
    row: int  # the report's index in the trial's history
    report: dict


def in_order(results: Results) -> list[Made]:
    """Every report of every trial, in the order they were made (see the module's docstring)."""
    reports = sorted(
        (r.get("timestamp", 0), trial, row, r)
        for trial, t in enumerate(results.trials)
        for row, r in enumerate(t.history)
    )
    start = min(
        (
            t.history[0].get("timestamp", 0) - t.history[0].get("time_this_iter_s", 0)
            for t in results.trials
            if t.history
        ),
        default=0,
    )
    return [Made(max(timestamp - start, 0.0), trial, row, report) for timestamp, trial, row, report in reports]


def best_so_far(results: Results) -> BestSoFar:
    better = min if results.objectives.primary_mode == "min" else max
    best, trace = math.nan, BestSoFar([], [], [])
    for count, made in enumerate(in_order(results), start=1):
        value: Any = made.report.get(results.objectives.primary)  # whatever was reported; is_number checks it
        if is_number(value):
            best = value if math.isnan(best) else better(best, value)
        trace.iterations.append(count)
        trace.seconds.append(made.seconds)
        trace.values.append(best)
    return trace
