"""``median``: the median stopping rule (Golovin et al. 2017): stop a trial whose best result
so far is worse than the median of the other trials' running averages at the same iteration."""

from ray.tune.schedulers import MedianStoppingRule

from raytune_hpo._ray.controller import ControllerHooks
from raytune_hpo.schedulers._common import SchedulerRequest


class MedianStopping(ControllerHooks, MedianStoppingRule):
    pass


def build_median(request: SchedulerRequest):
    return MedianStopping(
        **request.library_options(MedianStoppingRule.__init__, defaults={"grace_period": 1, "min_samples_required": 3})
    )
