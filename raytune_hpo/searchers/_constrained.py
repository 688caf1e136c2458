"""Outcome constraints (``constraints=`` of :func:`raytune_hpo.run`) for the searchers that
take none of their own.

A trial is infeasible when **any** of its reports violated a constraint
(:mod:`raytune_hpo._objectives`). The constraints reach a searcher in one of two ways:

- natively, for the Optuna samplers that model them (``tpe``, ``gp``, ``nsga2``, ``nsga3``;
  ``SearcherInfo.native_constraints``): each trial's constraint values, the largest of its
  reports (:func:`constraint_values`, :class:`Peaks`), are set on the Optuna trial before it is
  told (:class:`raytune_hpo.searchers._optuna.OptunaSearcher`);
- as the worst trial, for every other learning searcher with one objective (``hyperopt``,
  ``bohb``, ``dehb``, ``cmaes``, ``evolution``, ``pso``): :class:`ConstrainedSearcher`, placed
  around the search algorithm by :func:`raytune_hpo.runner.plan`, hands the searcher a copy of
  each result of an infeasible trial whose objective is worse than every value seen so far.

``random`` and ``grid`` learn nothing from results and get neither.

The worst value, in minimisation form (a maximised metric negated, then negated back): with
``low`` and ``high`` the smallest and largest objective value of every report handed over so
far (feasible or not, as reported) and ``spread = high - low`` (1 where that is 0, or where
nothing was seen: then ``high`` is 0), an infeasible trial that violates its constraints by
``v`` (the sum over constraints, the largest of its reports) gets

    high + spread * (1 + v / (1 + v))

that is, between ``high + spread`` and ``high + 2 * spread``: worse than every value seen, and
the less it violates, the less bad (a constrained metric missing or not finite counts as
``v = inf``: ``high + 2 * spread``), so that a searcher is led towards the feasible region.
"Seen so far" is all a searcher told as results arrive can have: a trial handed its worst
value early may look better than a feasible trial much worse than everything before it
that arrives later. What is written to disk is untouched: only the copy handed to the
searcher changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.search import Searcher
from ray.tune.search.util import _set_search_properties_backwards_compatible

from raytune_hpo._objectives import Constraint, Objectives
from raytune_hpo._options import is_number


class Worst:
    """The range of the finite values seen, and a value beyond it (see the module's docstring)."""

    def __init__(self) -> None:
        self.low: float | None = None
        self.high: float | None = None

    def see(self, value: Any) -> None:
        if not is_number(value):
            return
        value = float(value)
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)

    @property
    def spread(self) -> float:
        """``high - low``; 1 where that is 0 or nothing was seen."""
        if self.low is None or self.high is None or self.high <= self.low:
            return 1.0
        return self.high - self.low

    def beyond(self, violation: float = 0.0) -> float:
        """``high + spread * (1 + v / (1 + v))``: worse than every value seen (larger)."""
        share = 1.0 if math.isinf(violation) else violation / (1.0 + violation)
        return (self.high or 0.0) + self.spread * (1.0 + share)


def constraint_values(constraints: Sequence[Constraint], report: Mapping[str, Any]) -> list[float]:
    """Each constraint's value in ``report`` in Optuna's convention: ``metric - bound`` for
    ``<=``, ``bound - metric`` for ``>=``, so that 0 or less is feasible and a positive value
    is :meth:`Constraint.violation`; infinity where the metric is missing or not finite (as
    :meth:`Objectives.violation` counts it)."""
    values = []
    for c in constraints:
        value: Any = report.get(c.metric)
        if not is_number(value):
            values.append(math.inf)
        else:
            values.append(float(value) - c.bound if c.op == "<=" else c.bound - float(value))
    return values


class Peaks:
    """Each running trial's largest constraint values over its reports (a trial is infeasible
    when any report was), and, per constraint, the range of the finite values seen, which
    stands in for a missing or non-finite one (:meth:`value`)."""

    def __init__(self, constraints: Sequence[Constraint]):
        self.constraints = tuple(constraints)
        self.trials: dict[str, list[float]] = {}
        self.seen = [Worst() for _ in self.constraints]

    def add(self, trial_id: str, report: Mapping[str, Any]) -> None:
        values = constraint_values(self.constraints, report)
        for worst, value in zip(self.seen, values):
            worst.see(value)
        before = self.trials.get(trial_id)
        self.trials[trial_id] = values if before is None else [max(a, b) for a, b in zip(before, values)]

    def pop(self, trial_id: str) -> list[float] | None:
        """The trial's values, and the trial forgotten; None where it reported none. Each is
        finite: an infinite one (a metric missing or not finite) becomes
        ``max(high, 0) + spread`` of its constraint's values seen, infeasible and larger than
        every one of them (a Gaussian process models these values: an infinity would break it)."""
        values = self.trials.pop(trial_id, None)
        if values is None:
            return None
        return [
            v if math.isfinite(v) else max(worst.high or 0.0, 0.0) + worst.spread for v, worst in zip(values, self.seen)
        ]


class ConstrainedSearcher(Searcher):
    """Around a searcher with one objective and no constraints of its own: every result of an
    infeasible trial is handed to it with the objective at its worst (see the module's
    docstring). Everything else is the wrapped searcher's: ``suggest``, its state, its
    concurrency, and the hooks a scheduler or the runner may call on it (``on_pause``,
    ``on_unpause``, ``follow_brackets``: :mod:`raytune_hpo._contract`), which are delegated as
    attributes, so that it has them exactly where the searcher does.

    Ray Tune saves its state with the searcher's (``searcher.searcher`` is the wrapped one, as
    for Ray's ConcurrencyLimiter), and ``hpo.resume`` restores both."""

    def __init__(self, searcher: Searcher, objectives: Objectives):
        if objectives.several:
            raise ValueError("ConstrainedSearcher takes one objective")
        self.searcher = searcher
        self.objectives = objectives
        self.worst = Worst()  # of the objective, in minimisation form
        self.violations: dict[str, float] = {}  # running trials': the largest so far
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def __getattr__(self, name: str) -> Any:
        # Only public names, and never before ``searcher`` is set (unpickling).
        if name.startswith("_") or name == "searcher":
            raise AttributeError(name)
        return getattr(self.searcher, name)

    def handed(self, trial_id: str, result: Mapping[str, Any]) -> Mapping[str, Any]:
        """``result`` as the searcher is given it: a copy with the objective at its worst
        where the trial has been infeasible so far; else ``result`` itself."""
        violation = self.objectives.largest_violation(self.violations, trial_id, result)
        values = self.objectives.values(result)
        if values is not None:
            self.worst.see(values[0])
        if violation == 0:
            return result
        worst = self.worst.beyond(violation)
        return {**result, self.objectives.primary: worst if self.objectives.primary_mode == "min" else -worst}

    # -- Ray's Searcher interface --------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict | None:
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.searcher.on_trial_result(trial_id, dict(self.handed(trial_id, result)))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        handed = dict(self.handed(trial_id, result)) if result else result
        self.violations.pop(trial_id, None)
        self.searcher.on_trial_complete(trial_id, result=handed, error=error)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return _set_search_properties_backwards_compatible(
            self.searcher.set_search_properties, metric, mode, config, **spec
        )

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def get_state(self) -> dict:
        return {"worst": (self.worst.low, self.worst.high), "violations": dict(self.violations)}

    def set_state(self, state: dict) -> None:
        self.worst.low, self.worst.high = state["worst"]
        self.violations = dict(state["violations"])

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)
