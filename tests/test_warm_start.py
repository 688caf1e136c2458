"""Warm starts (raytune_hpo._warm_start) with a real first experiment: its trials mapped into a
changed space and counted by reason; each searcher that learns from them proposes nearer the
optimum the first experiment found than the same searcher and seed started cold; a warm-started
run from the API and the command line records what it used; bad inputs get one line and touch
nothing."""

from __future__ import annotations

import json
import os
import statistics

import pytest

import raytune_hpo as hpo
from raytune_hpo._warm_start import read_warm_start
from raytune_hpo.runner import plan
from raytune_hpo.searchers import REGISTRY as SEARCHERS
from raytune_hpo.space import Space
from tests.helpers import BOWL_SPACE, bowl, cli, multi_fidelity_bowl, write

SPACE = {**BOWL_SPACE, "iterations": 3}


@pytest.fixture(scope="module")
def first(ray_cluster, tmp_path_factory) -> str:
    """Random search, 30 trials of up to 3 iterations, ASHA stopping some at the first: the
    experiment the others start from."""
    storage = str(tmp_path_factory.mktemp("warm") / "runs")
    res = hpo.run(multi_fidelity_bowl, SPACE, metric="loss", searcher="random", scheduler="asha", max_t=3,
                  num_samples=30, seed=0, storage=storage, name="first", verbose=0,
                  scheduler_options={"grace_period": 1})
    assert res.num_errors == 0 and len(res.trials) == 30
    return res.path


def test_a_changed_space_keeps_what_fits_and_counts_the_rest_by_reason(first):
    earlier = hpo.load(first)
    objectives = earlier.objectives
    below = sum(t.config["x"] < 0.5 for t in earlier.trials)
    narrowed = read_warm_start([first], Space({**SPACE, "x": hpo.uniform(0.5, 1.0)}), objectives)
    assert len(narrowed.trials) == 30 - below and narrowed.skipped == {"with x outside the space": below}
    assert all(t.config["x"] >= 0.5 for t in narrowed.trials)
    added = {**SPACE, "depth": hpo.randint(1, 4)}
    assert read_warm_start([first], Space(added), objectives).skipped == {"with depth has no value": 30}
    defaulted = read_warm_start([first], Space(added), objectives, {"depth": 2})
    assert len(defaulted.trials) == 30 and {t.config["depth"] for t in defaulted.trials} == {2}
    removed = read_warm_start([first], Space({k: v for k, v in SPACE.items() if k != "n"}), objectives)
    assert len(removed.trials) == 30 and all("n" not in t.config for t in removed.trials)
    widened = read_warm_start([first], Space({**SPACE, "x": hpo.uniform(-1.0, 2.0)}), objectives)
    assert [t.config for t in widened.trials] == [t.config for t in earlier.trials]
    assert [len(t.reports) for t in widened.trials] == [len(t.history) for t in earlier.trials]  # every iteration
    assert widened.describe() == f"warm start: 30 trials of {first} used"
    assert narrowed.describe().endswith(f"; {below} skipped ({below} with x outside the space)")


def first_suggestions(searcher: str, seed: int, warm: list[str], count: int) -> list[dict]:
    scheduler = (SEARCHERS[searcher].schedulers or ("fifo",))[0]
    options = {"dehb": {"population_size": 6}, "evolution": {"population_size": 6}, "pso": {"popsize": 6}}.get(
        searcher, {"n_initial_points": 10})
    planned = plan(multi_fidelity_bowl, SPACE, metric="loss", searcher=searcher, scheduler=scheduler, max_t=3,
                   num_samples=20, seed=seed, searcher_options=options, warm_start=warm or None, dry_run=True,
                   storage="unused")
    configs = []
    for i in range(count):
        config = planned.search_alg.suggest(f"t{i}")
        assert isinstance(config, dict)
        configs.append(config)
    return configs


@pytest.mark.parametrize("searcher", ["tpe", "hyperopt", "gp", "bohb", "dehb", "evolution", "pso"])
def test_a_warm_started_searcher_proposes_nearer_the_optimum_from_its_first_suggestion(first, searcher):
    """Seeds 0-4, the first 3 suggestions of each: their median loss (the bowl's distance to
    its optimum) warm-started from the 30 trials of ``first`` is below the same searcher's
    cold, whose first suggestions are its random start."""
    warm = [bowl(c) for seed in range(5) for c in first_suggestions(searcher, seed, [first], 3)]
    cold = [bowl(c) for seed in range(5) for c in first_suggestions(searcher, seed, [], 3)]
    assert statistics.median(warm) < statistics.median(cold), (sorted(warm), sorted(cold))


def test_a_warm_started_run_runs_num_samples_and_records_what_it_used(first, storage, capsys):
    res = hpo.run(multi_fidelity_bowl, SPACE, metric="loss", searcher="tpe", num_samples=4, max_t=3, seed=1,
                  storage=storage, name="warm", verbose=1, warm_start=first)
    assert len(res.trials) == 4 and res.num_errors == 0  # the earlier trials are not run again
    assert f"warm start: 30 trials of {first} used" in capsys.readouterr().out
    with open(os.path.join(res.path, "manifest.json")) as f:
        assert json.load(f)["warm_start"] == {"sources": [first], "used": 30, "skipped": {}}


def test_the_command_line_takes_warm_start_directories(first, tmp_path):
    (tmp_path / "bowl.py").write_text("import raytune_hpo as hpo\n\ndef train(config):\n    hpo.report(loss=config['x'])\n")
    experiment = write(tmp_path, {"name": "again", "trainable": "bowl:train", "metric": "loss", "num_samples": 2,
                                  "searcher": "optuna", "space": {"x": {"uniform": [0.5, 1.0]},
                                                                  "opt": {"lr": {"loguniform": [1e-4, 1.0]}, "name": "sgd"},
                                                                  "kind": {"choice": ["a", "b", "c"]},
                                                                  "n": {"randint": [1, 6]}, "iterations": 2},
                                  "storage": str(tmp_path / "runs")})
    planned = cli("run", experiment, "--warm-start", first, "--dry-run", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    below = sum(t.config["x"] < 0.5 for t in hpo.load(first).trials)
    assert f"warm start: {30 - below} trials of {first} used; {below} skipped" in planned.stdout


@pytest.mark.parametrize(("options", "message"), [
    ({"warm_start": "nowhere"}, "warm_start: 'nowhere' cannot be read as an experiment ("),
    ({"warm_start": 3}, "warm_start: must be an experiment's directory or a list of them, got 3"),
    ({"warm_start": "{first}", "metric": "acc"},
     "warm_start: '{first}' optimised loss (min), this experiment acc (min); warm-start from an experiment of the same"),
    ({"warm_start": "{first}", "mode": "max"}, "warm_start: '{first}' optimised loss (min), this experiment loss (max)"),
    ({"warm_start": "{first}", "searcher": "random"},
     "warm_start: searcher 'random' cannot learn from earlier trials; the searchers that can are tpe, optuna, hyperopt, gp"),
    ({"warm_start_defaults": {"depth": 2}}, "warm_start_defaults: given without warm_start"),
])
def test_bad_warm_start_gets_one_line_and_touches_nothing(first, tmp_path, options, message):
    given = {key: value.format(first=first) if isinstance(value, str) else value for key, value in options.items()}
    before = sorted(os.listdir(first))
    with pytest.raises(hpo.ConfigError) as refused:
        hpo.run(multi_fidelity_bowl, SPACE, **{"metric": "loss", "searcher": "tpe", "storage": str(tmp_path / "runs"),
                                               "verbose": 0, **given})
    assert message.format(first=first) in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "runs").exists() and sorted(os.listdir(first)) == before
