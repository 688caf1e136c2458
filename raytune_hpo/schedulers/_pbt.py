"""``pbt``: population-based training (Jaderberg et al. 2017). Every ``perturbation_interval``
iterations, a trial in the bottom quantile copies the checkpoint of one in the top quantile
(exploit) and perturbs its hyperparameters (explore).

Mutations are derived from the search space unless ``hyperparam_mutations`` is given, and every
explored configuration is brought back into the space (Ray's perturbation multiplies values by
0.8 or 1.2, which can leave the bounds or make an integer a float)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.tune.schedulers import PopulationBasedTraining

from raytune_hpo._ray.controller import ControllerHooks
from raytune_hpo.schedulers._common import SchedulerRequest
from raytune_hpo.space import Choice, Float, Grid, Integer, Space


class PBT(ControllerHooks, PopulationBasedTraining):
    pass


class ProjectToSpace:
    """PBT's ``custom_explore_fn``: a picklable callable."""

    def __init__(self, space: Space):
        self.space = space

    def __call__(self, config: dict) -> dict:
        return self.space.project(config)


def per_parameter(space: Space, entry: Callable[[Any, Any], Any]) -> dict:
    """``entry(param, ray_domain)`` for every parameter of the space, nested as in the space;
    parameters for which it is None are left out. PBT's mutations and PB2's bounds."""
    ray_space = space.to_ray()
    out: dict = {}
    for name, param in space.params.items():
        keys = name.split("/")
        node = ray_space
        for key in keys[:-1]:
            node = node[key]
        value = entry(param, node[keys[-1]])
        if value is None:
            continue
        target = out
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    return out


def _mutation(param, domain):
    if isinstance(param, Choice):
        return list(param.options)
    if isinstance(param, Grid):
        return list(param.values)
    return domain if isinstance(param, (Float, Integer)) else None


def mutations(space: Space) -> dict:
    """Ray domains (and lists, for choices) of every parameter PBT can perturb, nested."""
    return per_parameter(space, _mutation)


def build_pbt(request: SchedulerRequest):
    return PBT(
        **request.library_options(
            PopulationBasedTraining.__init__,
            defaults={
                "perturbation_interval": 5,
                "hyperparam_mutations": mutations(request.space),
                "custom_explore_fn": ProjectToSpace(request.space),
            },
        )
    )
