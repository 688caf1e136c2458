"""``asha``: asynchronous successive halving (Li et al. 2020): at each rung (grace_period ×
reduction_factor^k iterations) a trial goes on only if it is in the top 1/reduction_factor of
the trials that reached that rung so far; no trial ever waits for others."""

from ray.tune.schedulers import ASHAScheduler

from raytune_hpo._ray.controller import ControllerHooks
from raytune_hpo.schedulers._common import SchedulerRequest


class ASHA(ControllerHooks, ASHAScheduler):
    pass


def build_asha(request: SchedulerRequest):
    return ASHA(**request.library_options(ASHAScheduler.__init__, defaults={"grace_period": 1, "reduction_factor": 3}))
