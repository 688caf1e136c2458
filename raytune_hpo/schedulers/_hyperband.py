"""``hyperband``: Hyperband as Li et al. (2018) define it, Algorithm 1, with R = ``max_t``
and η = ``reduction_factor``: the brackets of :func:`~raytune_hpo.schedulers._rungs.hyperband_brackets`,
each run as synchronous successive halving (``_sha``), interleaved (see
:class:`~raytune_hpo.schedulers._sha.SynchronousHalving`). With several objectives, or
constraints, a rung's top is chosen by non-dominated sorting with crowding distance (Deb et al.
2002), infeasible trials last, as MO-ASHA does (Schmucker et al. 2021): see ``_sha``. Ray's
``HyperBandScheduler``, another algorithm, is ``hyperband_async``.
"""

from __future__ import annotations

from raytune_hpo.schedulers._common import SchedulerRequest
from raytune_hpo.schedulers._rungs import Plan, hyperband_plans


def build_hyperband(request: SchedulerRequest):
    from raytune_hpo.schedulers._sha import HALVING_OPTIONS, SynchronousHalving, check_halving  # imports Ray

    options = request.checked_options(HALVING_OPTIONS.only("reduction_factor"))
    eta = options["reduction_factor"]
    max_t = check_halving(request)
    plans: list[Plan] = list(hyperband_plans(max_t, eta))
    return SynchronousHalving(
        lambda trials: plans, eta, "Hyperband (Li et al. 2018)", request.learner, request.objectives
    )
