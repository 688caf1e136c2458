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
        ({"o": hpo.choice([{"lr": hpo.uniform(1.0, 0.1)}, 3])}, "space.o[0].lr: low must be below high"),
        ({"l": [1, {"w": hpo.choice([])}]}, "space.l[1].w: choice needs at least one option"),
        ({"o": hpo.choice([{"g": hpo.grid([1, 2])}, {"x": hpo.uniform(0, 1)}])},
         "space.o[0].g: a grid inside a branch would make the number of trials depend on the branches"),
        ({"o": hpo.choice([{"a[1]": hpo.uniform(0, 1)}])},
         "space: parameter name 'o[0].a[1]' must be a non-empty string without '/' or '['"),
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


# -- conditional spaces ------------------------------------------------------------------------

CONDITIONAL = {
    "optimizer": hpo.choice([
        {"name": "sgd", "lr": hpo.loguniform(1e-3, 1e-1), "momentum": hpo.uniform(0.5, 0.99)},
        {"name": "adam", "lr": hpo.loguniform(1e-4, 1e-2), "beta1": hpo.uniform(0.8, 0.99)},
    ]),
    "layers": hpo.choice([
        {"n": 2, "width": [hpo.choice([64, 128]), hpo.choice([64, 128])]},
        {"n": 3, "width": [hpo.choice([64, 128, 256])] * 3},
    ]),
    "x": hpo.uniform(0, 1),
    "epochs": 3,
}


def check_conditional_config(config: dict) -> tuple[int, int]:
    """A configuration of CONDITIONAL holds the parameters of the options drawn and no other:
    the (optimizer, layers) options it took."""
    optimizer, layers = config["optimizer"], config["layers"]
    adam = optimizer["name"] == "adam"
    assert set(optimizer) == ({"name", "lr", "beta1"} if adam else {"name", "lr", "momentum"}), config
    assert 1e-4 <= optimizer["lr"] <= (1e-2 if adam else 1e-1)
    assert set(layers) == {"n", "width"} and len(layers["width"]) == layers["n"], config
    assert all(w in ((64, 128) if layers["n"] == 2 else (64, 128, 256)) for w in layers["width"]), config
    assert 0 <= config["x"] <= 1 and config["epochs"] == 3
    return int(adam), layers["n"] - 2


def test_a_choice_of_options_holding_parameters_is_a_branch_with_paths_and_conditions():
    space = Space(CONDITIONAL)
    assert space.conditional and list(space.branch_points) == ["optimizer", "layers"]
    assert list(space.params) == [
        "optimizer", "optimizer[0]/lr", "optimizer[0]/momentum", "optimizer[1]/lr", "optimizer[1]/beta1",
        "layers", "layers[0]/width[0]", "layers[0]/width[1]", "layers[1]/width[0]", "layers[1]/width[1]",
        "layers[1]/width[2]", "x",
    ]
    assert space.conditions["optimizer[1]/beta1"] == (("optimizer", 1),)
    assert space.conditions["x"] == () and space.conditions["layers"] == ()
    assert space.branches() == [{"optimizer": o, "layers": n} for o in (0, 1) for n in (0, 1)]
    assert space.active({"optimizer": 1, "layers": 0}) == [
        "optimizer", "optimizer[1]/lr", "optimizer[1]/beta1", "layers", "layers[0]/width[0]", "layers[0]/width[1]", "x"]
    assert not Space({"c": hpo.choice([{"k": 3}, [1, 2], None]), "x": hpo.uniform(0, 1)}).conditional


def test_nested_branches_have_conditions_on_every_branch_above():
    space = Space({"a": hpo.choice([{"b": hpo.choice([{"c": hpo.uniform(0, 1)}, "none"])}, "off"])})
    assert space.conditions["a[0]/b[0]/c"] == (("a", 0), ("a[0]/b", 0))
    assert space.branches() == [{"a": 0, "a[0]/b": 0}, {"a": 0, "a[0]/b": 1}, {"a": 1}]
    assert space.complete({"a": 0, "a[0]/b": 0, "a[0]/b[0]/c": 0.5}) == {"a": {"b": {"c": 0.5}}}
    assert space.complete({"a": 1}) == {"a": "off"}


def test_complete_builds_the_chosen_options_only_and_needs_their_values():
    space = Space(CONDITIONAL)
    values = {"optimizer": 0, "optimizer[0]/lr": 0.01, "optimizer[0]/momentum": 0.9, "layers": 1,
              "layers[1]/width[0]": 2, "layers[1]/width[1]": 0.2, "layers[1]/width[2]": 1, "x": 0.5,
              "optimizer[1]/beta1": 0.9}  # an option not chosen: ignored
    config = space.complete(values)
    assert config == {"optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
                      "layers": {"n": 3, "width": [256, 64, 128]}, "x": 0.5, "epochs": 3}
    check_conditional_config(config)
    with pytest.raises(ValueError, match="no value for optimizer\\[0\\].momentum"):
        space.complete({k: v for k, v in values.items() if k != "optimizer[0]/momentum"})


def test_ray_samples_a_branch_then_only_its_parameters_and_grids_the_product_of_branches():
    """Ray's variant generator draws a branch's option, then the domains inside it; as a grid,
    every combination of options and of the choices inside each."""
    from ray.tune.search.variant_generator import generate_variants

    space = Space(CONDITIONAL)
    rng = np.random.RandomState(0)
    configs = [next(generate_variants(space.to_ray(), random_state=rng))[1] for _ in range(200)]
    drawn = {check_conditional_config(c) for c in configs}
    assert drawn == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert len({tuple(c["layers"]["width"]) for c in configs if c["layers"]["n"] == 3}) > 15  # of 27
    grid_space = Space({k: v for k, v in CONDITIONAL.items() if k != "optimizer"} | {"x": 1})
    grid = [c for _, c in generate_variants(grid_space.to_ray(choices_as_grid=True))]
    assert len(grid) == grid_space.size((Grid, Choice)) == 4 + 27
    assert len({repr(c) for c in grid}) == 31


def test_size_sums_over_a_branchs_options_when_choices_are_expanded():
    space = Space({"o": hpo.choice([{"a": hpo.choice([1, 2])}, {"b": 1}, 3]), "g": hpo.grid([1, 2, 3])})
    assert space.size((Grid, Choice)) == (2 + 1 + 1) * 3
    assert space.size((Grid,)) == 3


def test_describe_lists_each_combination_of_branches_with_its_parameters():
    assert Space(MIXED).describe() == ["space: 6 parameters"]
    lines = Space(CONDITIONAL).describe()
    assert lines[0] == "space: 12 parameters in 4 branches (a trial draws one):"
    assert lines[3] == "  optimizer[1] layers[0]: optimizer[1].lr, optimizer[1].beta1, layers[0].width[0], layers[0].width[1], x"
    assert Space(CONDITIONAL).describe(most=2)[-1] == "  ... and 2 more"


# -- a configuration back into a space (warm starts) --------------------------------------------


def test_values_of_is_the_inverse_of_complete_in_a_conditional_space():
    space = Space(CONDITIONAL)
    config = {"optimizer": {"name": "adam", "lr": 0.001, "beta1": 0.9},
              "layers": {"n": 3, "width": [256, 64, 128]}, "x": 0.5, "epochs": 3}
    values = space.values_of(config)
    assert values == {"optimizer": 1, "optimizer[1]/lr": 0.001, "optimizer[1]/beta1": 0.9, "layers": 1,
                      "layers[1]/width[0]": 2, "layers[1]/width[1]": 0, "layers[1]/width[2]": 1, "x": 0.5}
    assert space.complete(values) == config


@pytest.mark.parametrize(("changed", "defaults", "expected"), [
    ({"x": hpo.uniform(0.0, 0.4)}, None, "x outside the space"),  # narrowed
    ({"x": hpo.uniform(-1.0, 2.0)}, None, {"x": 0.5}),  # widened
    ({"depth": hpo.randint(1, 4)}, None, "depth has no value"),  # added
    ({"depth": hpo.randint(1, 4)}, {"depth": 2}, {"depth": 2}),  # added, with a default
    ({"depth": hpo.randint(1, 4)}, {"depth": 7}, "depth outside the space"),  # a default outside
    ({"kind": hpo.choice(["a", "c"])}, None, "kind outside the space"),  # an option dropped
    ({"kind": hpo.choice(["c", "b", "a"])}, None, {"kind": 1}),  # options reordered
    ({"opt": {"lr": hpo.loguniform(1e-4, 1e-1), "name": "adam"}}, None, {"opt/lr": 0.01}),  # a constant changed
])
def test_values_of_an_earlier_configuration_in_a_changed_space(changed, defaults, expected):
    earlier = {"x": 0.5, "opt": {"lr": 0.01, "name": "sgd"}, "kind": "b", "n": 3, "gone": 1.5}
    space = Space({"x": hpo.uniform(0, 1), "opt": {"lr": hpo.loguniform(1e-4, 1e-1), "name": "sgd"},
                   "kind": hpo.choice(["a", "b"]), **changed})
    values = space.values_of(earlier, defaults)
    if isinstance(expected, str):
        assert values == expected
    else:
        assert isinstance(values, dict) and values.items() >= expected.items() and "gone" not in values


def test_values_of_finds_a_branch_by_its_constants_then_by_its_shape():
    by_name = Space({"o": hpo.choice([{"name": "sgd", "lr": hpo.uniform(0, 1)}, {"name": "adam", "lr": hpo.uniform(0, 1)}])})
    assert by_name.values_of({"o": {"name": "adam", "lr": 0.5}}) == {"o": 1, "o[1]/lr": 0.5}
    assert by_name.values_of({"o": {"name": "rmsprop", "lr": 0.5}}) == "no option of o matches"
    by_shape = Space({"w": hpo.choice([[hpo.choice([8, 16])], [hpo.choice([8, 16])] * 2])})
    assert by_shape.values_of({"w": [16, 8]}) == {"w": 1, "w[1][0]": 1, "w[1][1]": 0}
    by_keys = Space({"o": hpo.choice([{"a": hpo.uniform(0, 1)}, {"b": hpo.uniform(0, 1)}])})
    assert by_keys.values_of({"o": {"b": 0.5}}) == {"o": 1, "o[1]/b": 0.5}


def test_the_recorded_space_reads_back_with_the_same_parameters_and_maps_recorded_configs():
    """hpo.json keeps the space as JSON; read back, it has the same parameters, and a trial's
    configuration as the journal records it (objects as their str) maps into it."""
    import json

    from raytune_hpo.directory import jsonable

    class Relu:
        def __str__(self) -> str:
            return "Relu()"

    space = Space({
        "opt": hpo.choice([{"name": "sgd", "lr": hpo.qloguniform(1e-3, 1.0, 1e-3)}, {"name": "adam"}]),
        "act": hpo.choice([Relu(), None, [8, 8]]),
        "width": [hpo.randint(1, 9), tune.lograndint(1, 64)],
        "seed": hpo.grid([0, 1]),
        "x": np.float64(2.5),
    })
    recorded = Space.from_json(json.loads(json.dumps(space.to_json(jsonable))))
    assert recorded.params.keys() == space.params.keys() and recorded.conditions == space.conditions
    assert recorded.params["opt[0]/lr"] == space.params["opt[0]/lr"]
    assert recorded.params["width[1]"] == Integer(1, 64, log=True)
    assert recorded.params["act"] == Choice(("Relu()", None, [8, 8]))
    config = space.complete({"opt": 0, "opt[0]/lr": 0.01, "act": 0, "width[0]": 3, "width[1]": 5, "seed": 1})
    in_the_journal = json.loads(json.dumps(config, default=jsonable))
    assert recorded.values_of(in_the_journal) == {"opt": 0, "opt[0]/lr": 0.01, "act": 0, "width[0]": 3,
                                                  "width[1]": 5, "seed": 1}
