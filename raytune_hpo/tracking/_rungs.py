"""Which trials a scheduler stopped early, and the rungs of successive halving, read from the
trials' iteration counts.

Neither the scheduler's decisions (Ray keeps them in the driver's memory) nor its options
(grace period, reduction factor) are recorded with the results. So a trial that ended, without
an error, before the horizon (``max_t``, else the longest trial) under a scheduler that stops
trials was stopped by it, and the iterations at which trials were stopped are the rungs.
"""

from __future__ import annotations

from dataclasses import dataclass

from raytune_hpo.results import Results
from raytune_hpo.schedulers import REGISTRY, SchedulerInfo


def scheduler_info(results: Results) -> SchedulerInfo | None:
    """The experiment's scheduler as registered (None for a name this version does not know)."""
    return REGISTRY.get(results.meta.get("scheduler", ""))


@dataclass(frozen=True)
class Rung:
    iteration: int
    reached: int  # trials with at least this many iterations
    stopped: int  # trials stopped here by the scheduler


def horizon(results: Results) -> int:
    """The most iterations a trial could run: ``max_t``, else the longest trial's."""
    return results.meta.get("max_t") or max((t.iterations for t in results.trials), default=0)


def stopped_early(results: Results) -> set[str]:
    """The ids of the trials the scheduler stopped before the horizon."""
    info = scheduler_info(results)
    if info is not None and not info.stops_trials:  # a short trial there ended by itself
        return set()
    end = horizon(results)
    return {t.trial_id for t in results.trials if t.status == "TERMINATED" and 0 < t.iterations < end}


def rungs(results: Results) -> list[Rung]:
    """Each iteration at which trials were stopped, then the horizon, with how many trials
    reached it and how many were stopped there; empty where no trial was stopped."""
    stopped = stopped_early(results)
    stops = sorted({t.iterations for t in results.trials if t.trial_id in stopped})
    if not stops:
        return []
    return [
        Rung(
            iteration,
            reached=sum(t.iterations >= iteration for t in results.trials),
            stopped=sum(t.iterations == iteration and t.trial_id in stopped for t in results.trials),
        )
        for iteration in stops + [horizon(results)]
    ]
