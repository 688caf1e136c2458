"""``pbt``: population-based training (Jaderberg et al. 2017). Every ``perturbation_interval``
iterations, a trial in the bottom quantile copies the checkpoint of one in the top quantile
(exploit) and perturbs its hyperparameters (explore).

Mutations are derived from the search space unless ``hyperparam_mutations`` is given, and every
explored configuration is brought back into the space (Ray's perturbation multiplies values by
0.8 or 1.2, which can leave the bounds or make an integer a float)."""

from __future__ import annotations

from ray.tune.schedulers import PopulationBasedTraining

from raytune_hpo.schedulers._common import SchedulerRequest, SnapshotWhenTrialsEnd
from raytune_hpo.space import Choice, Float, Grid, Integer, Space


class PBT(SnapshotWhenTrialsEnd, PopulationBasedTraining):
    pass


class ProjectToSpace:
    """PBT's ``custom_explore_fn``: a picklable callable."""

    def __init__(self, space: Space):
        self.space = space

    def __call__(self, config: dict) -> dict:
        return self.space.project(config)


def mutations(space: Space) -> dict:
    """Ray domains (and lists, for choices) of every parameter PBT can perturb, nested."""
    ray_space = space.to_ray()
    out: dict = {}
    for name, param in space.params.items():
        if not isinstance(param, (Float, Integer, Choice, Grid)):
            continue
        keys = name.split("/")
        node, target = ray_space, out
        for key in keys[:-1]:
            node, target = node[key], target.setdefault(key, {})
        if isinstance(param, Choice):
            target[keys[-1]] = list(param.options)
        elif isinstance(param, Grid):
            target[keys[-1]] = list(param.values)
        else:
            target[keys[-1]] = node[keys[-1]]
    return out


def build_pbt(request: SchedulerRequest):
    return PBT(**request.library_options(
        PopulationBasedTraining.__init__,
        defaults={
            "perturbation_interval": 5,
            "hyperparam_mutations": mutations(request.space),
            "custom_explore_fn": ProjectToSpace(request.space),
        },
    ))
