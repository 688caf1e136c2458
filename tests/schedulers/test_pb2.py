"""``pb2``: Ray's PB2 with bounds derived from the space (as PBT's mutations are), a choice
refused, and a small run whose explored configurations stay in the space."""

from __future__ import annotations

import pytest

import raytune_hpo as hpo
from raytune_hpo.schedulers._pb2 import bounds
from raytune_hpo.space import Space


def test_bounds_come_from_the_space_nested_integers_inclusive():
    space = Space({"lr": hpo.loguniform(1e-4, 1e-1), "opt": {"m": hpo.uniform(0.5, 0.99), "name": "sgd"},
                   "layers": hpo.randint(1, 5), "drop": hpo.quniform(0.0, 0.5, 0.1), "g": hpo.grid([1, 2]),
                   "epochs": 3})
    assert bounds(space) == {"lr": [1e-4, 1e-1], "opt": {"m": [0.5, 0.99]}, "layers": [1, 4], "drop": [0.0, 0.5]}


@pytest.mark.parametrize(("space", "searcher", "options", "message"), [
    ({"x": hpo.uniform(0, 1), "opt": {"kind": hpo.choice(["a", "b"])}}, "random", {},
     "space.opt.kind: scheduler 'pb2' explores intervals, not choices; make it uniform or randint, a constant, or use scheduler 'pbt'"),
    ({"g": hpo.grid([1, 2])}, "random", {},
     "space: scheduler 'pb2' needs a uniform, loguniform, quniform or randint parameter to explore"),
    ({"x": hpo.uniform(0, 1)}, "random", {"hyperparam_mutations": {}},
     "scheduler_options.hyperparam_mutations: not an option of scheduler 'pb2'"),
    ({"x": hpo.uniform(0, 1)}, "tpe", {},
     "searcher: scheduler 'pb2' cannot run with searcher 'tpe'; it needs searcher 'random'"),
])
def test_what_pb2_cannot_take_is_refused_in_one_line(storage, space, searcher, options, message):
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(climber, space, metric="score", mode="max", searcher=searcher, scheduler="pb2",
                scheduler_options=options, storage=storage)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_trainable_without_checkpoints_is_refused(storage):
    from tests.helpers import BOWL_SPACE, multi_fidelity_bowl

    with pytest.raises(hpo.ConfigError, match="scheduler: 'pb2' hands a trial's weights to another through checkpoints"):
        hpo.run(multi_fidelity_bowl, {**BOWL_SPACE, "kind": "b"}, metric="loss", scheduler="pb2", storage=storage)


def climber(config: dict) -> None:
    """Climbs by lr × n per step, from its checkpoint when it has one; says whose it was."""
    from ray import tune

    me = tune.get_context().get_trial_name()
    state = hpo.load_checkpoint()
    w, step, owner = (0.0, 0, me) if state is None else (state["w"], state["step"], state["owner"])
    for _ in range(step, 6):
        step += 1
        w += config["lr"] * config["n"]
        hpo.report(score=w, step=step, origin=owner, checkpoint={"w": w, "step": step, "owner": me})


def test_pb2_runs_and_explored_configurations_stay_in_the_space(ray_cluster, storage):
    space = {"lr": hpo.uniform(0.1, 1.0), "n": hpo.randint(1, 4), "tag": "const"}
    res = hpo.run(climber, space, metric="score", mode="max", scheduler="pb2", num_samples=4, max_t=6,
                  seed=0, resources={"cpu": 0.5}, storage=storage, name="pb2", verbose=0,
                  scheduler_options={"perturbation_interval": 2, "quantile_fraction": 0.25, "synch": True})
    assert res.num_errors == 0 and len(res.trials) == 4
    assert all(t.iterations == 6 for t in res.trials)
    rows = [r for t in res.trials for r in t.history]
    for r in rows:
        assert 0.1 <= r["config"]["lr"] <= 1.0 and type(r["config"]["n"]) is int and 1 <= r["config"]["n"] <= 3
        assert r["config"]["tag"] == "const"
    assert any(r["origin"] != t.name for t in res.trials for r in t.history), "PB2 never exploited"
