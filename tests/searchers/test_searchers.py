"""Every searcher with every scheduler it pairs with, on a function with a known optimum; the
same seed gives the same configurations; options are checked by name."""

from __future__ import annotations

import sys

import pytest

import raytune_hpo as hpo
from raytune_hpo.schedulers import REGISTRY as SCHEDULERS
from raytune_hpo.searchers import REGISTRY as SEARCHERS
from tests.helpers import BOWL_SPACE, bowl, multi_fidelity_bowl

GRID_SPACE = {"x": hpo.grid([0.1, 0.7]), "opt": {"lr": hpo.choice([1e-3, 1e-2]), "name": "sgd"},
              "kind": hpo.choice(["a", "b"]), "n": 3, "iterations": 3}


def pairings():
    """Every searcher once (with ASHA, or the scheduler it requires) and every scheduler once
    (with random search, or the searcher it requires): each name is run, in 14 experiments
    rather than the 59 of the full matrix. Schedulers that need a checkpointing trainable (PBT,
    PB2) and the rule-based ``threshold`` are tested in tests/schedulers."""
    pairs = []
    for searcher in SEARCHERS.values():
        allowed = searcher.schedulers or ("asha",)
        pairs.append((searcher.name, "asha" if "asha" in allowed else allowed[0]))
    for scheduler in SCHEDULERS.values():
        if scheduler.needs_checkpoints or scheduler.name == "threshold":
            continue
        searcher = scheduler.searchers[0] if scheduler.searchers else "random"
        if (searcher, scheduler.name) not in pairs:
            pairs.append((searcher, scheduler.name))
    return pairs


def test_every_searcher_and_scheduler_is_paired_somewhere():
    pairs = pairings()
    assert {s for s, _ in pairs} == set(SEARCHERS)
    assert {c for _, c in pairs} == {s.name for s in SCHEDULERS.values() if not s.needs_checkpoints} - {"threshold"}
    for searcher, scheduler in pairs:
        assert SEARCHERS[searcher].schedulers is None or scheduler in SEARCHERS[searcher].schedulers
        assert SCHEDULERS[scheduler].searchers is None or searcher in SCHEDULERS[scheduler].searchers


@pytest.mark.parametrize(("searcher", "scheduler"), pairings())
def test_pairing_runs_and_finds_the_good_region(ray_cluster, storage, searcher, scheduler):
    space = GRID_SPACE if searcher == "grid" else BOWL_SPACE
    res = hpo.run(
        multi_fidelity_bowl, space, metric="loss", mode="min", searcher=searcher,
        scheduler=scheduler, num_samples=1 if searcher == "grid" else 16, max_t=9, seed=1,
        storage=storage, name="exp", verbose=0,
        scheduler_options={"grace_period": 1} if scheduler in ("asha", "median") else None,
    )
    assert res.num_errors == 0
    assert len(res.trials) == (8 if searcher == "grid" else 16)
    best = res.best_config
    if searcher == "grid":
        assert best["x"] == 0.7 and best["opt"]["lr"] == 1e-2 and best["kind"] == "b"
    else:
        # A sanity check only, which cannot tell a searcher from random search: 21 % of random
        # configurations of this space score under 0.6, and 16 random trials find one 97.8 % of
        # the time (Monte Carlo, 200,000 runs). Over 30 trials and seeds 0-4 (driven without Ray)
        # TPE's median best is 0.107 and Optuna's 0.045, where random search's 16-trial median
        # is 0.21: too close for a threshold that random search misses and they reliably meet.
        assert bowl(best) < 0.6, best
    assert best["opt"]["name"] == "sgd" and best["iterations"] == (3 if searcher == "grid" else 9)
    assert res.best_metrics["loss"] == pytest.approx(bowl(best) + 1.0 / res.best_metrics["training_iteration"])
    if scheduler in ("asha", "hyperband", "bohb", "dehb", "median") and searcher != "grid":
        assert min(t.iterations for t in res.trials) < 9, "the scheduler stopped no trial early"


# Options that make each searcher leave its random start within 10 trials.
SEED_TEST_OPTIONS = {"random": None, "evolution": {"population_size": 4}, "pso": {"popsize": 4},
                     "dehb": {"population_size": 4}}


@pytest.mark.parametrize("searcher", ["random", "tpe", "optuna", "bohb", "gp", "cmaes", "evolution", "pso", "dehb"])
def test_same_seed_same_configurations(ray_cluster, storage, searcher):
    def configs(name: str, seed: int) -> list[dict]:
        res = hpo.run(
            multi_fidelity_bowl, {**BOWL_SPACE, "iterations": 3}, metric="loss", mode="min", max_t=3,
            searcher=searcher, num_samples=10, max_concurrent=1, seed=seed, storage=storage,
            name=name, verbose=0,
            searcher_options=SEED_TEST_OPTIONS.get(searcher, {"n_initial_points": 4}),
        )
        assert res.num_errors == 0
        return [t.config for t in sorted(res.trials, key=lambda t: t.name)]

    first, again, other = configs("a", 3), configs("b", 3), configs("c", 4)
    assert first == again
    assert first != other
    assert len({repr(c) for c in first}) == 10


def test_unknown_searcher_option_is_named_with_the_valid_ones(storage):
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", searcher="tpe",
                searcher_options={"n_initial_pts": 3}, storage=storage)
    assert str(e.value).startswith("searcher_options.n_initial_pts: not an option of searcher 'tpe'; valid:")
    assert "n_initial_points" in str(e.value)


def test_unknown_searcher_name(storage):
    with pytest.raises(hpo.ConfigError, match="searcher: unknown name 'tpee'; choose one of random, grid, tpe"):
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", searcher="tpee", storage=storage)


def test_grid_searcher_refuses_sampled_parameters(storage):
    with pytest.raises(hpo.ConfigError, match="space.x: searcher 'grid' searches only hpo.grid and hpo.choice"):
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", searcher="grid", storage=storage)


@pytest.mark.parametrize("searcher", ["tpe", "optuna", "gp", "cmaes", "evolution", "pso"])
def test_model_based_searcher_refuses_a_grid(storage, searcher):
    with pytest.raises(hpo.ConfigError, match=f"^space.x: searcher '{searcher}' cannot take a grid; "
                       "use searcher 'grid' or 'random'"):
        hpo.run(multi_fidelity_bowl, GRID_SPACE, metric="loss", searcher=searcher, storage=storage)


@pytest.mark.parametrize(("searcher", "package", "extra"), [
    ("tpe", "hyperopt", "hyperopt"), ("gp", "scipy", "optuna"), ("cmaes", "cmaes", "optuna"),
    ("pso", "nevergrad", "nevergrad"),
])
def test_missing_library_names_the_extra(storage, monkeypatch, searcher, package, extra):
    monkeypatch.setitem(sys.modules, package, None)  # the import then fails, as if absent
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", searcher=searcher, storage=storage)
    assert str(e.value) == (
        f"searcher '{searcher}' needs the {package} package: pip install 'raytune-hpo[{extra}]'"
    )
