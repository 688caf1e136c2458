"""Warm starts: the finished trials of earlier experiments, given to the searcher before it
proposes (``hpo.run(..., warm_start=["runs/first-try"])``).

Each earlier trial that ended (``TERMINATED``, stopped early by a scheduler included) is read
back through :func:`raytune_hpo.results.load` with every report it made, and its configuration
is mapped into the new space (:meth:`Space.values_of`): a parameter the new space dropped is
left out, one it added takes its value from ``warm_start_defaults`` (by dotted path) or the
trial is skipped, a value outside a narrowed range or no longer among a choice's options skips
the trial. Errored trials, trials that never ended, trials with no value of the objective and,
with constraints, infeasible ones (a report violated one) are skipped too; each skip is counted
by its reason, printed and recorded in the manifest.

The trials are not run again and do not count in ``num_samples``. Each searcher takes them in
its library's own way (its ``warm_start`` method): hyperopt's and Optuna's studies get them as
completed trials (Optuna with every reported iteration as an intermediate value), BOHB one
observation per reported iteration (its budget), DEHB and the genetic algorithm their
populations. The value a trial is given is the one that stands for it
(:mod:`raytune_hpo._objectives`): its best report with one objective, its last with several.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from raytune_hpo._objectives import Objectives
from raytune_hpo._options import is_number
from raytune_hpo.errors import ConfigError
from raytune_hpo.space import Space


@dataclass(frozen=True)
class WarmTrial:
    """A trial of an earlier experiment, as the new space sees it."""

    values: dict[str, Any]  # a searcher's raw values for it in the new space (Space.values_of)
    config: dict  # as the new space completes those values
    reports: tuple[dict, ...]  # every report it made, in order
    source: str  # the earlier experiment's directory

    def curve(self, metric: str) -> dict[int, float]:
        """``metric`` at each iteration it was reported (a finite number): the observations a
        multi-fidelity searcher keeps with their budgets, and Optuna's intermediate values."""
        return {
            int(r["training_iteration"]): float(r[metric])
            for r in self.reports
            if is_number(r.get(metric)) and "training_iteration" in r
        }

    def standing(self, objectives: Objectives) -> Any:
        """The value (one objective: a number, in the metric's own direction) or values
        (several: a list, the last report's) that stand for the trial; None if it has none."""
        if objectives.several:
            last = self.reports[-1]
            values = [last.get(m) for m in objectives.metrics]
            return values if all(is_number(v) for v in values) else None
        scored = [r[objectives.primary] for r in self.reports if is_number(r.get(objectives.primary))]
        if not scored:
            return None
        return min(scored) if objectives.primary_mode == "min" else max(scored)


@dataclass(frozen=True)
class WarmStart:
    """What the earlier experiments give: the trials used, and those skipped by reason."""

    sources: tuple[str, ...]
    trials: tuple[WarmTrial, ...]
    skipped: dict[str, int]

    def describe(self) -> str:
        """One line: ``warm start: 37 trials of runs/first-try used; 3 skipped (2 errored, 1
        with lr outside the space)``."""
        line = f"warm start: {len(self.trials)} trials of {', '.join(self.sources)} used"
        if self.skipped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]))
            line += f"; {sum(self.skipped.values())} skipped ({reasons})"
        return line

    def meta(self) -> dict[str, Any]:
        """As the manifest records it."""
        return {"sources": list(self.sources), "used": len(self.trials), "skipped": dict(self.skipped)}


def read_warm_start(
    paths: Sequence[str], space: Space, objectives: Objectives, defaults: Mapping[str, Any] | None = None
) -> WarmStart:
    """The finished trials of the experiments in ``paths`` for a new experiment over
    ``space`` with ``objectives`` (see the module's docstring). An earlier experiment that is
    not one, or that optimised other metrics or modes, is refused in one line."""
    from raytune_hpo.results import load

    trials: list[WarmTrial] = []
    skipped: Counter[str] = Counter()
    sources = []
    for path in paths:
        source = os.path.abspath(os.fspath(path))
        try:
            earlier = load(source)
        except ConfigError as e:
            raise ConfigError(f"warm_start: {path!r} cannot be read as an experiment ({e})") from None
        if (earlier.objectives.metrics, earlier.objectives.modes) != (objectives.metrics, objectives.modes):
            raise ConfigError(
                f"warm_start: {path!r} optimised {earlier.objectives.describe()}, this experiment "
                f"{objectives.describe()}; warm-start from an experiment of the same metric and mode"
            )
        sources.append(path)
        for trial in earlier.trials:
            if trial.status != "TERMINATED":
                skipped["errored" if trial.status == "ERROR" else "unfinished"] += 1
                continue
            reports = tuple(trial.history)
            values = space.values_of(trial.config, defaults)
            if isinstance(values, str):
                skipped[f"with {values}"] += 1
                continue
            warm = WarmTrial(values, space.complete(values), reports, source)
            if not reports or warm.standing(objectives) is None:
                skipped["without a value of the objective"] += 1
            elif objectives.constraints and objectives.point(reports)[1] > 0:
                skipped["infeasible"] += 1
            else:
                trials.append(warm)
    return WarmStart(tuple(sources), tuple(trials), dict(skipped))
