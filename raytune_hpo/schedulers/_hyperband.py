"""``hyperband`` and ``bohb``: Hyperband's brackets of successive halving (Li et al. 2018),
as Ray runs them; ``bohb`` is the variant that tells the BOHB searcher which trials pause,
and is what ``hyperband`` becomes under the ``bohb`` searcher."""

from ray.tune.schedulers import HyperBandForBOHB, HyperBandScheduler

from raytune_hpo.schedulers._common import SchedulerRequest, SnapshotWhenTrialsEnd


class Hyperband(SnapshotWhenTrialsEnd, HyperBandScheduler):
    pass


class BOHBHyperband(SnapshotWhenTrialsEnd, HyperBandForBOHB):
    pass


def build_hyperband(request: SchedulerRequest):
    scheduler = BOHBHyperband if request.searcher == "bohb" else Hyperband
    return scheduler(
        **request.library_options(scheduler.__init__, defaults={"reduction_factor": 3})
    )

