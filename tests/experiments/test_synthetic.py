"""The synthetic multi-fidelity problems: their known optima and values, how fidelity moves them,
and train() run by hand (no Ray), its reports captured."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import raytune_hpo as hpo
from experiments import synthetic
from raytune_hpo.space import Choice, Float, Space


def sample(spec: dict, rng: np.random.Generator) -> dict:
    """A configuration drawn from ``spec`` the way a searcher's suggestion is completed."""
    space = Space(spec)
    values = {}
    for name, param in space.params.items():
        if isinstance(param, Choice):
            values[name] = rng.integers(len(param.options))
        else:
            assert isinstance(param, Float) and not param.log
            values[name] = rng.uniform(param.low, param.high)
    return space.complete(values)



def test_branin_minimizers_reach_the_optimum_at_full_fidelity():
    for x1, x2 in synthetic.BRANIN_MINIMIZERS:
        assert synthetic.branin(x1, x2) == pytest.approx(synthetic.BRANIN_OPTIMUM, abs=1e-6)
        assert synthetic.branin(x1, x2, fidelity=1.0) == pytest.approx(0.397887, abs=1e-6)
    # A textbook value away from the minima: (0 - 0 + 0 - 6)^2 + 10 (1 - 1/(8 pi)) + 10
    assert synthetic.branin(0.0, 0.0) == pytest.approx(55.602112642, abs=1e-8)
    xs = np.random.default_rng(0).uniform([-5, 0], [10, 15], size=(5000, 2))
    assert min(synthetic.branin(a, b) for a, b in xs) > synthetic.BRANIN_OPTIMUM


def test_hartmann6_minimizer_reaches_the_optimum_at_full_fidelity():
    assert synthetic.hartmann6(synthetic.HARTMANN6_MINIMIZER) == pytest.approx(-3.32237, abs=1e-5)
    xs = np.random.default_rng(0).random((5000, 6))
    assert min(synthetic.hartmann6(x) for x in xs) > synthetic.HARTMANN6_OPTIMUM
    # Moving off the minimizer in any coordinate makes it worse.
    for j in range(6):
        x = list(synthetic.HARTMANN6_MINIMIZER)
        x[j] += 0.05
        assert synthetic.hartmann6(x) > synthetic.HARTMANN6_OPTIMUM + 1e-3


@pytest.mark.parametrize("problem", ["branin", "hartmann6", "counting_ones"])
def test_lower_fidelity_is_further_from_the_true_value_on_average(problem):
    rng = np.random.default_rng(1)
    configs = [sample(synthetic.SPACES[problem], rng) for _ in range(300)]
    truth = np.array([synthetic.true_value(c) for c in configs])
    errors = [
        np.mean([abs(synthetic.value(c, z) - t) for c, t in zip(configs, truth)])
        for z in (1 / 27, 1 / 9, 1 / 3, 1.0)
    ]
    assert errors[0] > errors[1] > errors[2] > errors[3]
    if problem != "counting_ones":  # full fidelity is the function itself; sampling stays noisy
        assert errors[3] == 0.0
        assert errors[0] > 0.0


def test_counting_ones_optimum_and_expectation():
    ones, zeros = [1] * 8, [0] * 8
    for budget in (1, 27, synthetic.COUNTING_ONES_MAX_BUDGET):
        assert synthetic.counting_ones(ones, [1.0] * 8, budget) == synthetic.COUNTING_ONES_OPTIMUM
        assert synthetic.COUNTING_ONES_OPTIMUM == -1.0
        assert synthetic.counting_ones(zeros, [0.0] * 8, budget) == 0.0
    assert synthetic.counting_ones(ones, [0.5] * 8, None) == -0.75
    # At the largest budget, 729 samples per value: the estimate's standard deviation is
    # 0.5 / sqrt(729 * 8) / 2 = 0.0033 around -0.75.
    estimates = [synthetic.counting_ones(ones, [0.5] * 8, 729, seed) for seed in range(50)]
    assert abs(np.mean(estimates) + 0.75) < 0.003
    assert 0.001 < np.std(estimates) < 0.006
    full = {"problem": "counting_ones", "n": 8, **{f"cat{i}": 1 for i in range(8)},
            **{f"cont{i}": 1.0 for i in range(8)}}
    assert synthetic.value(full, 1.0) == synthetic.value(full, 1 / 27) == -1.0


def test_counting_ones_samples_are_reproducible_and_refined_by_larger_budgets():
    config = sample(synthetic.SPACES["counting_ones"], np.random.default_rng(2))
    assert synthetic.value(config, 1 / 3) == synthetic.value(dict(config), 1 / 3)
    assert synthetic.value({**config, "seed": 1}, 1 / 3) != synthetic.value(config, 1 / 3)
    # The first b samples are those of every larger budget: 27 samples are the first 27 of 729.
    cont = [config[f"cont{i}"] for i in range(8)]
    draws = np.random.default_rng(5).random((729, 8))
    first27 = -((draws[:27] < cont).mean(axis=0).sum()) / 16
    assert synthetic.counting_ones([0] * 8, cont, 27, seed=5) == pytest.approx(first27)
    assert [synthetic.counting_ones_budget(z) for z in (1 / 27, 1 / 3, 1.0)] == [27, 243, 729]


def test_spaces_hold_each_problems_parameters():
    assert sorted(Space(synthetic.SPACES["branin"]).params) == ["x1", "x2"]
    assert sorted(Space(synthetic.SPACES["hartmann6"]).params) == [f"x{i}" for i in range(1, 7)]
    params = Space(synthetic.SPACES["counting_ones"]).params
    assert sorted(params) == sorted([f"cat{i}" for i in range(8)] + [f"cont{i}" for i in range(8)])
    assert params["cat0"] == hpo.choice([0, 1]) and params["cont0"] == hpo.uniform(0.0, 1.0)
    for problem, spec in synthetic.SPACES.items():
        assert spec["problem"] == problem and spec["iterations"] == 27


@pytest.mark.parametrize("problem", ["branin", "hartmann6", "counting_ones"])
def test_train_reports_every_iteration_ending_at_the_true_value(problem, reports):
    config = sample(synthetic.SPACES[problem], np.random.default_rng(3))
    synthetic.train(config)
    assert len(reports) == 27
    assert [r["loss"] for r in reports] == [synthetic.value(config, t / 27) for t in range(1, 28)]
    assert [r["checkpoint"] for r in reports] == [{"iteration": t} for t in range(1, 28)]
    regret = synthetic.true_value(config) - synthetic.OPTIMA[problem]
    assert all(r["regret"] == regret for r in reports) and regret >= 0
    if problem != "counting_ones":
        assert reports[-1]["loss"] - synthetic.OPTIMA[problem] == pytest.approx(regret)
    # Deterministic: the same configuration reports the same values again.
    first = [r["loss"] for r in reports]
    reports.clear()
    synthetic.train(config)
    assert [r["loss"] for r in reports] == first


def test_train_at_a_minimizer_has_no_regret(reports):
    x1, x2 = synthetic.BRANIN_MINIMIZERS[1]
    synthetic.train({**synthetic.SPACES["branin"], "x1": x1, "x2": x2, "iterations": 9})
    assert len(reports) == 9
    assert reports[-1]["loss"] == pytest.approx(synthetic.BRANIN_OPTIMUM, abs=1e-6)
    assert abs(reports[-1]["regret"]) < 1e-6
    assert reports[0]["loss"] != pytest.approx(synthetic.BRANIN_OPTIMUM, abs=1e-3)


def test_train_resumes_after_its_checkpoint_and_saves_every_nth(monkeypatch, reports):
    config = sample(synthetic.SPACES["hartmann6"], np.random.default_rng(4))
    synthetic.train(config)
    fresh = [r["loss"] for r in reports]
    reports.clear()
    monkeypatch.setattr(synthetic.hpo, "load_checkpoint", lambda: {"iteration": 10})
    synthetic.train(config)
    assert [r["loss"] for r in reports] == fresh[10:]
    reports.clear()
    monkeypatch.setattr(synthetic.hpo, "load_checkpoint", lambda: {"iteration": 27})
    synthetic.train(config)
    assert reports == []  # a finished trial has nothing left to do
    monkeypatch.setattr(synthetic.hpo, "load_checkpoint", lambda: None)
    synthetic.train({**config, "checkpoint_every": 5})
    saved = [r["checkpoint"]["iteration"] for r in reports if r["checkpoint"] is not None]
    assert saved == [5, 10, 15, 20, 25, 27]
    reports.clear()
    synthetic.train({**config, "checkpoint_every": 0})
    assert len(reports) == 27 and all(r["checkpoint"] is None for r in reports)


def test_train_runs_by_hand_outside_a_trial(reports_passed_on):
    for problem in synthetic.SPACES:
        config = sample(synthetic.SPACES[problem], np.random.default_rng(5))
        reports_passed_on.clear()
        synthetic.train(config)
        # Every iteration from the first (no checkpoint outside a trial), each a finite loss; the
        # regret to the known optimum is never negative and the same at every iteration.
        assert len(reports_passed_on) == config["iterations"] == 27, problem
        assert all(math.isfinite(r["loss"]) for r in reports_passed_on), problem
        regrets = {r["regret"] for r in reports_passed_on}
        assert len(regrets) == 1 and min(regrets) >= -1e-9, (problem, regrets)
        every = config.get("checkpoint_every", 1)
        saved = [r["checkpoint"]["iteration"] for r in reports_passed_on if r["checkpoint"] is not None]
        assert saved == sorted({*range(every, 28, every), 27}), problem


def test_train_rejects_an_unknown_problem():
    with pytest.raises(ValueError, match="problem must be one of"):
        synthetic.train({"problem": "rosenbrock", "iterations": 3})


@pytest.mark.parametrize("problem", ["branin", "hartmann6", "counting_ones"])
def test_a_27_iteration_trial_takes_well_under_a_tenth_of_a_second(problem):
    config = sample(synthetic.SPACES[problem], np.random.default_rng(6))
    synthetic.train(config)  # imports done
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        synthetic.train(config)
        timings.append(time.perf_counter() - start)
    assert sorted(timings)[2] < 0.02, timings
    assert math.isfinite(synthetic.true_value(config))
