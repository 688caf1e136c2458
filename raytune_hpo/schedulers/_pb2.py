"""``pb2``: population-based bandits (Parker-Holder et al. 2020), Ray's ``PB2``: PBT whose
explore step picks the new hyperparameters with a GP bandit (a time-varying Gaussian process
of the reward's improvement, UCB acquisition; scikit-learn) instead of random perturbation.

Its bounds are derived from the space as PBT's mutations are (``_pbt.per_parameter``):
[low, high] for ``uniform``/``loguniform``/``quniform`` parameters, [low, high − 1] for
``randint`` ones; a ``choice`` is refused, since the bandit searches intervals. Constants and
grids are left as they are. The GP works on the parameters' own (linear) scale, log-scaled ones
included, and every explored configuration is brought back into the space (integers rounded,
quantized values put on their grid), as under PBT."""

from __future__ import annotations

import warnings

from ray.tune.schedulers.pb2 import PB2 as RayPB2

from raytune_hpo._library import require
from raytune_hpo._ray.controller import ControllerHooks
from raytune_hpo.errors import ConfigError
from raytune_hpo.schedulers._common import SchedulerRequest
from raytune_hpo.schedulers._pbt import ProjectToSpace, per_parameter
from raytune_hpo.space import Choice, Float, Integer, Space, display


def _bound(param, domain):
    if isinstance(param, Float):
        return [param.low, param.high]
    if isinstance(param, Integer):
        return [param.low, param.high - 1]
    return None


def bounds(space: Space) -> dict:
    """PB2's ``hyperparam_bounds`` for the space: [low, high] of every continuous or integer
    parameter, nested; a choice parameter is refused."""
    for name, param in space.params.items():
        if isinstance(param, Choice):
            raise ConfigError(
                f"space.{display(name)}: scheduler 'pb2' explores intervals, not choices; make it "
                "uniform or randint, a constant, or use scheduler 'pbt'"
            )
    derived = per_parameter(space, _bound)
    if not derived:
        raise ConfigError(
            "space: scheduler 'pb2' needs a uniform, loguniform, quniform or randint parameter to explore"
        )
    return derived


class PB2(ControllerHooks, RayPB2):
    def _get_new_config(self, trial, trial_to_clone):
        from sklearn.exceptions import ConvergenceWarning

        # scikit-learn warns whenever a GP hyperparameter ends at its bound: noise on stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return super()._get_new_config(trial, trial_to_clone)


def build_pb2(request: SchedulerRequest):
    require("sklearn", "pb2", "scheduler 'pb2'")  # Ray's module imports without it
    options = dict(request.options)
    defaults = {"perturbation_interval": 5, "custom_explore_fn": ProjectToSpace(request.space)}
    if "hyperparam_bounds" not in options:
        defaults["hyperparam_bounds"] = bounds(request.space)
    return PB2(**request.library_options(RayPB2.__init__, defaults=defaults))
