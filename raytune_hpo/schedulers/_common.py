"""The request every scheduler factory is built from."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raytune_hpo._library import library_options
from raytune_hpo._objectives import Objectives
from raytune_hpo._options import OptionTable
from raytune_hpo.space import Space

# Schedulers count a trial's progress in reports (epochs, usually), never in seconds:
# budgets and rungs then mean the same on a laptop and on a cluster.
TIME_ATTR = "training_iteration"


class Objective:
    """Mixed into our own schedulers: the metric and mode come from Ray's TuneConfig, and
    ``score`` turns a reported value into one where higher is better (NaN the worst)."""

    _metric: str | None = None
    _mode: str | None = None

    def set_search_properties(self, metric, mode, **spec) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        return True

    def score(self, value: Any) -> float:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return -math.inf
        if math.isnan(value):
            return -math.inf
        return value if self._mode == "max" else -value


@dataclass(frozen=True)
class SchedulerRequest:
    """Everything a scheduler factory may use."""

    name: str
    space: Space
    max_t: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # From run(): schedulers whose rungs wait for every trial (sha, hyperband) check them.
    trials: int | None = None  # the trials the experiment plans
    max_concurrent: int | None = None
    time_budget_s: float | None = None
    learner: bool = False  # the searcher is a RungLearner (raytune_hpo._contract)
    # What the experiment optimises; None: one objective, given through Ray's TuneConfig.
    objectives: Objectives | None = None
    # The options the factory passed on, defaults included: what the plan shows (rungs).
    settings: dict[str, Any] = field(default_factory=dict, compare=False)

    def checked_options(self, table: OptionTable) -> dict[str, Any]:
        """``scheduler_options`` checked against the scheduler's own table, defaults filled in."""
        options = table.check(self.options, field="scheduler_options", owner=f"scheduler {self.name!r}")
        self.settings.update(options)
        return options

    def library_options(
        self,
        target: Callable,
        defaults: Mapping[str, Any] | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``scheduler_options`` over ``defaults`` as keyword arguments of ``target``, with
        ``max_t`` added where ``target`` takes it; ``time_attr``, ``metric`` and ``mode`` are ours
        (metric and mode reach the scheduler through Ray's TuneConfig)."""
        kwargs = {
            **(defaults or {}),
            **library_options(
                target,
                self.options,
                field="scheduler_options",
                owner=f"scheduler {self.name!r}",
                aliases=aliases,
                reserved=("time_attr", "metric", "mode", "max_t"),
            ),
        }
        parameters = inspect.signature(target).parameters
        if self.max_t is not None and "max_t" in parameters:
            kwargs["max_t"] = self.max_t
        if "time_attr" in parameters:
            kwargs["time_attr"] = TIME_ATTR
        self.settings.update(kwargs)
        return kwargs
