"""``fifo``: every trial runs to its end (``max_t`` iterations where given)."""

from ray.tune.schedulers import FIFOScheduler

from raytune_hpo._ray.controller import ControllerHooks
from raytune_hpo.schedulers._common import SchedulerRequest


class FIFO(ControllerHooks, FIFOScheduler):
    pass


def build_fifo(request: SchedulerRequest):
    return FIFO(**request.library_options(FIFOScheduler.__init__))
