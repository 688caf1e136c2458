"""Scheduler names, what each pairs with, and how each is built."""

from __future__ import annotations

from dataclasses import dataclass

from raytune_hpo._library import call_factory, lookup
from raytune_hpo.schedulers._common import SchedulerRequest


@dataclass(frozen=True)
class SchedulerInfo:
    name: str
    summary: str
    factory: str  # "module:function", imported when the scheduler is built
    searchers: tuple[str, ...] | None = None  # the only searchers it runs with; None: any
    needs_checkpoints: bool = False  # the trainable must save and load checkpoints
    # Synchronous brackets wait for all their trials: a searcher that proposes one trial at
    # a time (Ray's default) never fills them, so every trial would run to max_t.
    proposes_upfront: bool = False
    # It stops trials at max_t itself; a stopper on top would end them behind its back (Ray's
    # Hyperband then promotes paused trials it would have left stopped).
    stops_at_max_t: bool = False
    # It ends trials before max_t (false for fifo and population-based training, whose short
    # trials ended by themselves).
    stops_trials: bool = True
    # Its rungs, as raytune_hpo.schedulers._rungs.describe draws them: "asha", "sha",
    # "hyperband", "hyperband_async"; None where it has none.
    rungs: str | None = None
    # It takes several objectives and constraints: it compares trials through
    # raytune_hpo._objectives (non-dominated sorting, infeasible ones last), or not at all.
    several_objectives: bool = False
    # It takes a conditional space (raytune_hpo.space); population-based training does not:
    # it perturbs every parameter of a configuration, whichever branch it is in.
    conditional: bool = True

    def build(self, request: SchedulerRequest):
        return call_factory(self.factory, request)


_PACKAGE = "raytune_hpo.schedulers"
_SCHEDULERS = [
    SchedulerInfo(
        "fifo",
        "no early stopping: every trial runs to max_t",
        f"{_PACKAGE}._fifo:build_fifo",
        stops_trials=False,
        several_objectives=True,
    ),
    SchedulerInfo("median", "median stopping rule", f"{_PACKAGE}._median:build_median"),
    SchedulerInfo(
        "asha",
        "asynchronous successive halving (MO-ASHA with several objectives or constraints)",
        f"{_PACKAGE}._asha:build_asha",
        stops_at_max_t=True,
        rungs="asha",
        several_objectives=True,
    ),
    SchedulerInfo(
        "hyperband",
        "Hyperband as in Li et al. 2018, Algorithm 1: brackets of synchronous successive halving",
        f"{_PACKAGE}._hyperband:build_hyperband",
        stops_at_max_t=True,
        rungs="hyperband",
        several_objectives=True,
    ),
    SchedulerInfo(
        "hyperband_async",
        "Ray's HyperBandScheduler: Hyperband brackets filled as trials arrive",
        f"{_PACKAGE}._hyperband_async:build_hyperband_async",
        proposes_upfront=True,
        stops_at_max_t=True,
        rungs="hyperband_async",
    ),
    SchedulerInfo(
        "sha",
        "synchronous successive halving: one bracket, each rung waits for every trial",
        f"{_PACKAGE}._sha:build_sha",
        proposes_upfront=True,
        stops_at_max_t=True,
        rungs="sha",
        several_objectives=True,
    ),
    SchedulerInfo(
        "threshold",
        "early stopping by rules: a metric threshold at an iteration, a share of "
        "the iteration or time budget, the worst percentile at milestones",
        f"{_PACKAGE}._threshold:build_threshold",
    ),
    SchedulerInfo(
        "bohb",
        "Hyperband (as 'hyperband') for the BOHB searcher, which learns from every rung",
        f"{_PACKAGE}._hyperband:build_hyperband",
        searchers=("bohb",),
        stops_at_max_t=True,
        rungs="hyperband",
        several_objectives=True,
    ),
    SchedulerInfo(
        "dehb",
        "Hyperband's brackets (Li et al. 2018, Algorithm 1) for the DEHB searcher, which "
        "proposes each trial for the bracket it joins",
        f"{_PACKAGE}._hyperband:build_hyperband",
        searchers=("dehb",),
        stops_at_max_t=True,
        rungs="hyperband",
        several_objectives=True,
    ),
    SchedulerInfo(
        "pbt",
        "population-based training (exploit checkpoints, explore hyperparameters)",
        f"{_PACKAGE}._pbt:build_pbt",
        searchers=("random", "grid"),
        needs_checkpoints=True,
        stops_trials=False,
        conditional=False,
    ),
    SchedulerInfo(
        "pb2",
        "population-based bandits: PBT whose explore step is a GP bandit (scikit-learn)",
        f"{_PACKAGE}._pb2:build_pb2",
        searchers=("random",),
        needs_checkpoints=True,
        stops_trials=False,
        conditional=False,
    ),
]

REGISTRY: dict[str, SchedulerInfo] = {s.name: s for s in _SCHEDULERS}
SCHEDULERS: dict[str, str] = {s.name: s.summary for s in _SCHEDULERS}


def get_scheduler(name: str) -> SchedulerInfo:
    return lookup(REGISTRY, "scheduler", name)
