"""With the same trials and the same results, our ASHA and Ray's Hyperband (``hyperband_async``)
stop the same trials at the same iterations as Ray Tune's own schedulers do under plain Ray Tune."""

from __future__ import annotations

import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler

import raytune_hpo as hpo

XS = [0.37, 0.91, 0.05, 0.66, 0.23, 0.78, 0.49, 0.12, 0.84]


def descend(config: dict) -> None:
    for t in range(1, 10):
        tune.report({"loss": config["x"] + 1.0 / t})


@pytest.mark.parametrize(
    ("name", "ray_scheduler"),
    [
        ("asha", ASHAScheduler(time_attr="training_iteration", max_t=9, grace_period=1, reduction_factor=3)),
        ("hyperband_async", HyperBandScheduler(time_attr="training_iteration", max_t=9, reduction_factor=3)),
    ],
)
def test_same_trials_stopped_at_the_same_iterations(ray_cluster, storage, name, ray_scheduler):
    # One trial at a time (each takes both CPUs): the order of results is the same in both runs.
    plain = tune.Tuner(
        tune.with_resources(descend, {"cpu": 2}),
        param_space={"x": tune.grid_search(XS)},
        tune_config=tune.TuneConfig(metric="loss", mode="min", scheduler=ray_scheduler),
        run_config=tune.RunConfig(storage_path=storage, name="plain", verbose=0),
    ).fit()
    ours = hpo.run(descend, {"x": hpo.grid(XS)}, metric="loss", searcher="grid", scheduler=name,
                   max_t=9, resources={"cpu": 2}, storage=storage, name="ours", verbose=0,
                   scheduler_options={"grace_period": 1} if name == "asha" else None)
    plain_stops = {r.config["x"]: r.metrics["training_iteration"] for r in plain}
    our_stops = {t.config["x"]: t.iterations for t in ours.trials}
    assert our_stops == plain_stops
    assert min(our_stops.values()) < 9  # something was stopped early
