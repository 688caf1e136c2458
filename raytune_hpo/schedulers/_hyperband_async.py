"""``hyperband_async``: Hyperband's brackets of successive halving as Ray runs them
(``HyperBandScheduler``: brackets filled as trials arrive, smallest first — not the paper's
Algorithm 1, which is ``hyperband``, in ``_hyperband``)."""

from ray.tune.schedulers import HyperBandScheduler

from raytune_hpo._ray.controller import ControllerHooks
from raytune_hpo.schedulers._common import SchedulerRequest


class Hyperband(ControllerHooks, HyperBandScheduler):
    retires_trials = False  # its brackets hold every trial they ran


def build_hyperband_async(request: SchedulerRequest):
    return Hyperband(**request.library_options(Hyperband.__init__, defaults={"reduction_factor": 3}))
