"""The Pareto front of a multi-objective experiment as the report shows it: each trial's point
(front, feasible, infeasible), the reference point of its hypervolume, and the hypervolume over
budget.

A trial's point is its representative report (its **last**, see
:mod:`raytune_hpo._objectives`), as :meth:`Results.pareto_front` and :meth:`Results.hypervolume`
take it; a trial any of whose reports violated a constraint is infeasible.

**Reference point.** The report measures hypervolume against, per objective, the worst value
among the feasible trials' points, moved further away by ``REFERENCE_MARGIN`` (10 %) of that
objective's range among them (of the worst value's magnitude where the range is 0, and by 0.1
where that is 0 too). Every feasible point is then strictly better than the reference in every
objective, so the front's extreme trials add volume too. A comparison of experiments pools
their feasible points for one reference.

**Hypervolume over budget.** The reports are taken in the order they were made (as for the
best so far, :mod:`raytune_hpo.tracking._best_so_far`); every report spends one training
iteration of budget. A trial's point joins the front at its last report, when its
representative report is known (a report made earlier may yet be overtaken by the trial's
next); the curve is the hypervolume of the front of the points joined so far. So it never
decreases and it ends at ``results.hypervolume(reference)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from raytune_hpo._objectives import Objectives, Point, Vector, hypervolume, join_front
from raytune_hpo.results import Results
from raytune_hpo.tracking._best_so_far import BestSoFar, in_order

REFERENCE_MARGIN = 0.1
FRONT, FEASIBLE, INFEASIBLE = "front", "feasible", "infeasible"
KINDS = (FRONT, FEASIBLE, INFEASIBLE)


@dataclass(frozen=True)
class Placed:
    """A trial's point as drawn: its objectives in the metrics' own units and its kind."""

    trial_id: str
    values: tuple[float, ...]  # one per objective, in ``Objectives.metrics`` order
    kind: str  # FRONT, FEASIBLE (dominated) or INFEASIBLE


def split(results: Results) -> list[Placed]:
    """Every trial with a value for each objective, in the order of ``results.trials``: on the
    front, feasible but dominated, or infeasible. A trial without values is left out."""
    objectives = results.objectives
    found = results.points
    front = set(objectives.front(found))
    return [
        Placed(t.trial_id, units(objectives, values), FRONT if i in front else FEASIBLE if bad == 0 else INFEASIBLE)
        for i, (t, (values, bad)) in enumerate(zip(results.trials, found))
        if values is not None
    ]


def units(objectives: Objectives, vector: Sequence[float]) -> tuple[float, ...]:
    """A vector in minimisation form in the metrics' own units (a maximised one negated back);
    the same the other way."""
    return tuple(v if mode == "min" else -v for v, mode in zip(vector, objectives.modes))


def reference_point(objectives: Objectives, found: Sequence[Point]) -> tuple[float, ...] | None:
    """The report's reference point (see the module's docstring), in the metrics' own units;
    None where no point is feasible."""
    feasible = [values for values, bad in found if values is not None and bad == 0]
    if not feasible:
        return None
    reference = []
    for k in range(len(objectives.metrics)):
        column = [v[k] for v in feasible]  # minimisation form: the worst is the greatest
        worst = max(column)
        span = worst - min(column) or abs(worst) or 1.0
        reference.append(worst + REFERENCE_MARGIN * span)
    return units(objectives, reference)


def hypervolume_over_budget(results: Results, reference: Sequence[float]) -> BestSoFar:
    """The hypervolume of the front so far against cumulative training iterations and wall
    time (see the module's docstring); ``reference`` in the metrics' own units."""
    objectives = results.objectives
    ref = units(objectives, reference)
    found = results.points
    front: dict[int, Vector] = {}  # trial index -> its point, for the trials on the front so far
    volume, trace = 0.0, BestSoFar([], [], [])
    for count, made in enumerate(in_order(results), start=1):
        values, bad = found[made.trial]
        last = made.row == len(results.trials[made.trial].history) - 1
        if last and values is not None and bad == 0 and join_front(front, made.trial, values):
            # In trial order, as Results.hypervolume sums them: the last value is the same number.
            volume = hypervolume([front[i] for i in sorted(front)], ref)
        trace.iterations.append(count)
        trace.seconds.append(made.seconds)
        trace.values.append(volume)
    return trace


def describe_reference(objectives: Objectives, reference: Sequence[float]) -> str:
    """``loss 0.78, size 9.9``."""
    return ", ".join(f"{m} {_short(r)}" for m, r in zip(objectives.metrics, reference))


def _short(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)
