"""``hyperband_async`` and ``bohb``: Hyperband's brackets of successive halving as Ray runs
them (``HyperBandScheduler``: brackets filled as trials arrive, smallest first — not the
paper's Algorithm 1, which is ``hyperband``, in ``_hyperband_li``); ``bohb`` is the variant
that tells the BOHB searcher which trials pause."""

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

