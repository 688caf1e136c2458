"""The search space: validation messages, completion of suggestions, and the converters (each
next to its searcher adapter), checked by sampling through each library and reading its objects
back."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ray import tune

import raytune_hpo as hpo
from raytune_hpo.searchers._bohb import to_configspace
from raytune_hpo.searchers._hyperopt import to_hyperopt
from raytune_hpo.searchers._optuna import to_optuna
from raytune_hpo.space import Choice, Float, Grid, Integer, RayDomain, Space

MIXED = {
    "lr": hpo.loguniform(1e-4, 1e-1),
    "optim": {"momentum": hpo.uniform(0.5, 0.99), "name": "sgd", "decay": hpo.qloguniform(1e-3, 1.0, 1e-3)},
    "layers": hpo.randint(1, 5),
    "dropout": hpo.quniform(0.0, 0.5, 0.1),
    "act": hpo.choice(["relu", None, [1, 2], {"k": 3}]),
    "epochs": 20,
}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"lr": hpo.uniform(1.0, 0.1)}, "space.lr: low must be below high, got low=1.0 high=0.1"),
        ({"a": {"b": hpo.loguniform(0.0, 1.0)}}, "space.a.b: log-scaled bounds must be > 0, got low=0.0"),
        ({"d": hpo.quniform(0, 1, 0)}, "space.d: q must be a positive number, got q=0"),
        ({"d": hpo.quniform(0, 1, -0.1)}, "space.d: q must be a positive number"),
        ({"d": hpo.quniform(0, 0.5, 1.0)}, "space.d: q=1.0 is wider than the range"),
        ({"c": hpo.choice([])}, "space.c: choice needs at least one option"),
        ({"g": hpo.grid([])}, "space.g: grid needs at least one value"),
        ({"n": hpo.randint(5, 5)}, "space.n: low must be below high (high is exclusive)"),
        ({"n": hpo.randint(1.5, 5)}, "space.n: bounds must be integers"),
        ({"x": hpo.uniform("a", 1)}, "space.x: bounds must be finite numbers"),
        ({"x": hpo.uniform(0, math.inf)}, "space.x: bounds must be finite numbers"),
        ({"epochs": 20}, "space: has no parameter to search"),
        ({}, "space: has no parameter to search"),
        ({"a/b": hpo.uniform(0, 1)}, "space: parameter name 'a/b' must be a non-empty string without '/'"),
        ({"l": [hpo.uniform(0, 1)]}, "space.l: parameters inside a list are not supported"),
    ],
)
def test_invalid_space_names_the_parameter_in_one_line(spec, message):
    with pytest.raises(hpo.ConfigError) as e:
        Space(spec)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)


def test_space_must_be_a_dict():
    with pytest.raises(hpo.ConfigError, match="space: must be a dict"):
        Space([hpo.uniform(0, 1)])


def test_ray_domains_are_accepted_as_they_are():
    space = Space({
        "a": tune.uniform(0, 1), "b": tune.qloguniform(1e-3, 1, 1e-3), "c": tune.randint(1, 5),
        "d": tune.qrandint(0, 10, 5), "e": tune.choice([1, 2]), "f": tune.grid_search([1, 2]),
        "g": tune.sample_from(lambda spec: 1), "h": tune.lograndint(1, 100),
    })
    p = space.params
    assert p["a"] == Float(0, 1)
    assert p["b"] == Float(1e-3, 1, log=True, q=1e-3)
    assert p["c"] == Integer(1, 5)
    assert p["d"] == Integer(0, 11, q=5)  # Ray's qrandint includes its upper bound
    assert p["e"] == Choice((1, 2))
    assert p["f"] == Grid((1, 2))
    assert isinstance(p["g"], RayDomain)
    assert p["h"] == Integer(1, 100, log=True)


def test_complete_casts_quantizes_maps_choices_and_keeps_constants():
    space = Space(MIXED)
    config = space.complete({
        "lr": np.float64(0.01), "optim": {"momentum": 0.9, "decay": 0.01234},
        "layers": np.float64(2.6), "dropout": 0.30000000000000004, "act": np.int64(3),
    })
    assert config == {
        "lr": 0.01, "optim": {"momentum": 0.9, "name": "sgd", "decay": 0.012},
        "layers": 3, "dropout": 0.3, "act": {"k": 3}, "epochs": 20,
    }
    assert type(config["layers"]) is int and type(config["lr"]) is float
    assert list(config) == list(MIXED)  # the user's key order


def test_complete_clips_into_bounds_and_quantizes_inside_them():
    space = Space({"q": hpo.quniform(0.05, 0.5, 0.1), "n": hpo.randint(0, 10)})
    assert space.complete({"q": 0.52, "n": 12}) == {"q": 0.5, "n": 9}
    assert space.complete({"q": 0.0, "n": -3}) == {"q": 0.1, "n": 0}


def test_project_keeps_perturbed_values_legal():
    space = Space({"lr": hpo.loguniform(1e-3, 1e-1), "n": hpo.randint(1, 5), "c": hpo.choice([1, 2]), "k": 7})
    assert space.project({"lr": 0.12, "n": 4.8, "c": 2, "k": 7}) == {"lr": 0.1, "n": 4, "c": 2, "k": 7}


def _check_samples(space: Space, configs: list[dict]) -> None:
    """Every sample lies in its domain with its type; every choice and both ends of each range
    are reached; log-scaled parameters are spread on a log scale."""
    lrs = [c["lr"] for c in configs]
    assert all(1e-4 <= v <= 1e-1 and type(v) is float for v in lrs)
    assert 1e-4 < min(lrs) < 3e-4 and 3e-2 < max(lrs) <= 1e-1
    assert 3e-4 < float(np.exp(np.median(np.log(lrs)))) < 3e-2  # geometric midpoint ~3e-3
    assert {c["layers"] for c in configs} == {1, 2, 3, 4}
    assert all(type(c["layers"]) is int for c in configs)
    assert {c["dropout"] for c in configs} <= {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}
    assert len({c["dropout"] for c in configs}) >= 5
    decays = [c["optim"]["decay"] for c in configs]
    assert all(abs(d / 1e-3 - round(d / 1e-3)) < 1e-9 and 1e-3 <= d <= 1.0 for d in decays)
    assert all(0.5 <= c["optim"]["momentum"] <= 0.99 for c in configs)
    assert all(c["optim"]["name"] == "sgd" and c["epochs"] == 20 for c in configs)
    acts = [c["act"] for c in configs]
    assert all(a in (["relu", None, [1, 2], {"k": 3}]) for a in acts)
    assert len({repr(a) for a in acts}) == 4


def test_round_trip_through_ray():
    space = Space(MIXED)
    ray_space = space.to_ray()
    assert Space(ray_space).params == space.params
    rng = np.random.default_rng(0)
    from ray.tune.search.variant_generator import generate_variants

    configs = []
    for _ in range(300):
        for _, config in generate_variants(ray_space, random_state=rng):
            configs.append(config)
    _check_samples(space, configs)


def test_round_trip_through_hyperopt():
    from hyperopt.pyll import stochastic

    space = Space(MIXED)
    native = to_hyperopt(space)
    assert set(native) == set(space.params)
    rng = np.random.default_rng(0)
    _check_samples(space, [space.complete(stochastic.sample(native, rng=rng)) for _ in range(300)])


def test_round_trip_through_optuna():
    import optuna

    space = Space(MIXED)
    native = to_optuna(space)
    assert native["lr"].log and native["lr"].low == 1e-4 and native["lr"].high == 1e-1
    assert native["dropout"].step == 0.1 and native["layers"].high == 4
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = [space.complete(study.ask(fixed_distributions=native).params) for _ in range(300)]
    _check_samples(space, configs)


def test_round_trip_through_configspace():
    space = Space(MIXED)
    cs = to_configspace(space, seed=0)
    lr, decay, layers = cs["lr"], cs["optim/decay"], cs["layers"]
    assert (lr.lower, lr.upper, lr.log) == (1e-4, 1e-1, True)
    assert (decay.log, decay.meta["q"]) == (True, 1e-3)  # ConfigSpace 1.x has no q: kept in meta
    assert (layers.lower, layers.upper) == (1, 4)
    configs = [space.complete(dict(c)) for c in cs.sample_configuration(300)]
    _check_samples(space, configs)


@pytest.mark.parametrize("convert", [to_hyperopt, to_optuna, to_configspace])
def test_model_based_converters_refuse_grids(convert):
    with pytest.raises(hpo.ConfigError, match=r"space.g: searcher '\w+' cannot take a grid"):
        convert(Space({"g": hpo.grid([1, 2]), "x": hpo.uniform(0, 1)}))


def test_searchable_names_the_searcher_that_cannot_take_a_grid():
    space = Space({"g": hpo.grid([1, 2]), "x": hpo.uniform(0, 1)})
    with pytest.raises(hpo.ConfigError) as e:
        space.searchable("gp")
    assert str(e.value) == "space.g: searcher 'gp' cannot take a grid; use searcher 'grid' or 'random', or hpo.choice(...)"
    assert list(Space({"x": hpo.uniform(0, 1)}).searchable("gp")) == ["x"]
