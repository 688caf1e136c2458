"""How our schedulers compare trials at a rung, and the rungs of MO-ASHA; Ray-free.

**The ranking at a rung** (:func:`order`), one piece of code for the brackets of ``sha``,
``hyperband``, ``bohb`` and ``dehb`` and for MO-ASHA:

- *One objective, no constraint*: a trial's measure at a rung is its **score**, the value it
  reported there, negated when minimised (a missing, NaN or non-numeric value scores −inf);
  trials rank by score, highest first, ties by order of arrival.
- *Several objectives, or constraints*: its measure is its **point**
  (:data:`~raytune_hpo._objectives.Point`): the objectives of its report at the rung in
  minimisation form, and the largest constraint violation of any of its reports up to that
  one. Trials rank by :meth:`Objectives.rank <raytune_hpo._objectives.Objectives.rank>`:
  non-dominated sorting with crowding distance as the tie-break within a front (NSGA-II,
  Deb et al. 2002, "A fast and elitist multiobjective genetic algorithm: NSGA-II"), then order
  of arrival; every infeasible point after every feasible one, the least violation first; a
  point without values last.

**MO-ASHA** (:class:`ParetoRungs`): asynchronous successive halving (Li et al. 2020) whose
rungs rank by non-dominated sorting, as Schmucker et al. 2021 ("Multi-objective Asynchronous
Successive Halving", arXiv:2106.12639) define it; their ε-net tie-break is not offered, the
crowding distance is. Rungs are at ``grace_period`` × η^k iterations below ``max_t``, as in
Ray's ``ASHAScheduler``. When a trial reaches rung k its point there is recorded; with n points
recorded at rung k, its own included, the trial **goes on iff its place in the ranking of those
n points is among the first ⌈n/η⌉**, and is stopped otherwise. No trial waits for another and
no decision is revisited; at ``max_t`` a trial stops.

With one objective, Ray's ASHA compares the value with the (1 − 1/η) percentile of the values
recorded before it, interpolated between two of them; the rule above counts places. The two
agree on every arrival except where the new value falls strictly between the two recorded
values Ray interpolates between (or ties one): with η = 3, from the third trial at a rung on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, cast

from raytune_hpo._objectives import Objectives, Point
from raytune_hpo._options import is_number
from raytune_hpo.directory import JOURNAL_FILE, read_journal, read_results
from raytune_hpo.schedulers._common import TIME_ATTR

Measure = float | Point
"""A trial at a rung: its score (one objective, no constraint) or its point."""


def pareto(objectives: Objectives | None) -> bool:
    """Whether trials are compared by points (several objectives, or constraints), not scores."""
    return objectives is not None and objectives.compound


def order(measures: Sequence[Measure], objectives: Objectives | None = None) -> list[int]:
    """The indices of ``measures``, best first: scores highest first, points by
    ``objectives.rank``; ties in the order given (of arrival)."""
    if pareto(objectives):
        return cast(Objectives, objectives).rank(cast(Sequence[Point], measures))
    scores = cast(Sequence[float], measures)
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def top(n: int, eta: float) -> int:
    """⌈n/η⌉, exactly for an integer or decimal η: how many of n points go on."""
    return math.ceil(Fraction(n) / Fraction(eta))


class ParetoRungs:
    """MO-ASHA's bookkeeping (see the module's docstring): the rungs' iterations
    (``milestones``, ascending, below ``max_t``), the measures recorded at each in order of
    arrival (points; scores for one objective without constraint), and of each trial still
    running, its largest violation so far and whether a rung stopped it."""

    def __init__(self, milestones: Sequence[float], eta: float, objectives: Objectives):
        self.milestones = list(milestones)
        self.eta = eta
        self.objectives = objectives
        self.pareto = pareto(objectives)
        self.points: list[dict[str, Measure]] = [{} for _ in self.milestones]
        self.violation: dict[str, float] = {}
        self.stopped: set[str] = set()

    def rung_of(self, iteration: Any) -> int | None:
        """The highest rung at or below ``iteration``; None below the first."""
        if not is_number(iteration):
            return None
        below = [k for k, r in enumerate(self.milestones) if r <= iteration]
        return below[-1] if below else None

    def record(self, trial_id: str, iteration: Any, report: Mapping[str, Any]) -> int | None:
        """Take one report of a trial: the rung whose point it records (the first report at or
        past a rung the trial had no point at), else None. A report without values (an
        objective missing or not finite) records nothing."""
        violation = self.objectives.largest_violation(self.violation, trial_id, report)
        k = self.rung_of(iteration)
        if k is None or trial_id in self.points[k]:
            return None
        values = self.objectives.values(report)
        if values is None:
            return None
        # One objective and no constraint (outside run(), which gives those to Ray's ASHA): scores.
        self.points[k][trial_id] = (values, violation) if self.pareto else -values[0]
        return k

    def report(self, trial_id: str, iteration: Any, report: Mapping[str, Any]) -> bool:
        """Take one report; whether the trial goes on. A trial that a rung stopped stays
        stopped (restarted from a checkpoint before its end was recorded)."""
        k = self.record(trial_id, iteration, report)
        if k is not None and not self.goes_on(k, trial_id):
            self.stopped.add(trial_id)
        return trial_id not in self.stopped

    def goes_on(self, k: int, trial_id: str) -> bool:
        """The rule, for the trial's point at rung k among those recorded there up to its own."""
        arrived = list(self.points[k])
        n = arrived.index(trial_id) + 1
        points = [self.points[k][t] for t in arrived[:n]]
        return order(points, self.objectives).index(n - 1) < top(n, self.eta)

    def forget(self, trial_id: str) -> None:
        """The trial ended: its points stay, the rest goes."""
        self.violation.pop(trial_id, None)
        self.stopped.discard(trial_id)

    def replay(self, path: str) -> None:
        """The rungs as the experiment in ``path`` left them, from its journal's trials (those
        dropped left out) and each one's ``result.json``: the points at the rungs, ordered by
        the time of the report that reached each (to the second), then by the order in which
        the trials started; of the trials that had not ended, their running violation and
        whether a rung stopped them (the decisions taken at their arrivals). Nothing where there
        is no journal (a fresh experiment, or one run by Ray Tune alone)."""
        if not os.path.exists(os.path.join(path, JOURNAL_FILE)):
            return
        arrivals, running = [], []
        for started, record in enumerate(read_journal(path).trials.values()):
            trial = ParetoRungs(self.milestones, self.eta, self.objectives)  # this trial alone
            for row in read_results(os.path.join(path, record.name)):
                k = trial.record(record.trial_id, row.get(TIME_ATTR), row)
                if k is not None:
                    time = row.get("timestamp")
                    point = trial.points[k][record.trial_id]
                    arrivals.append((time if is_number(time) else 0, started, k, record.trial_id, point))
            if record.status == "RUNNING":
                self.violation[record.trial_id] = trial.violation.get(record.trial_id, 0.0)
                running.append(record.trial_id)
        for _, _, k, trial_id, point in sorted(arrivals, key=lambda a: a[:2]):
            self.points[k].setdefault(trial_id, point)
        for trial_id in running:
            if any(trial_id in rung and not self.goes_on(k, trial_id) for k, rung in enumerate(self.points)):
                self.stopped.add(trial_id)

    def describe(self) -> str:
        return ", ".join(f"{r:g} ({len(p)} trials)" for r, p in zip(self.milestones, self.points))
