"""DEHB driven directly without Ray (its random initial bracket, DE children, selection,
promotion into higher budgets, concurrency, saved state), and small experiments whose
trials follow Hyperband's brackets."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import raytune_hpo as hpo
from raytune_hpo.schedulers._rungs import hyperband_plans
from tests.helpers import (BOWL_SPACE, EVERY_KIND_SPACE, assert_legal_every_kind, bowl, build_searcher,
                            multi_fidelity_bowl)

PLANS = hyperband_plans(9, 3)  # [(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]


def build(space=BOWL_SPACE, seed: int = 0, max_concurrent: int | None = None, **options):
    searcher = build_searcher("dehb", space, seed, **options)
    searcher.max_concurrent = max_concurrent  # build_searcher's is 1
    searcher.follow_brackets(PLANS)
    return searcher


def drive(searcher, trials: int, objective=bowl, start: int = 0) -> list[dict]:
    """Trials one at a time, each reporting ``objective`` once at its first budget."""
    configs = []
    for i in range(start, start + trials):
        trial_id = f"t{i}"
        config = searcher.suggest(trial_id)
        budget = searcher._trials[trial_id]["budget"]
        result = {"loss": objective(config), "training_iteration": budget}
        searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result)
        configs.append(config)
    return configs


def test_subpopulations_are_sized_by_the_largest_rung_at_each_budget():
    searcher = build()
    assert searcher._sizes == {1: 9, 3: 5, 9: 3}
    assert build(population_size=6)._sizes[1] == 6


def test_each_trial_is_proposed_for_the_first_budget_of_its_bracket():
    searcher = build()
    budgets = []  # each trial's budget, read when it is proposed
    for i in range(9 + 5 + 3 + 3):
        config = searcher.suggest(f"t{i}")
        budgets.append(searcher._trials[f"t{i}"]["budget"])
        result = {"loss": bowl(config), "training_iteration": budgets[-1]}
        searcher.on_trial_result(f"t{i}", result)
        searcher.on_trial_complete(f"t{i}", result)
    # PLANS' brackets open with 9 trials at 1 iteration, 5 at 3, 3 at 9; then round two.
    assert budgets == [1] * 9 + [3] * 5 + [9] * 3 + [1] * 3
    assert all(f"t{i}" not in searcher._trials for i in range(20))  # ended trials are forgotten


def test_first_bracket_is_random_then_children_have_targets():
    searcher = build()
    for i in range(9):
        searcher.suggest(f"t{i}")
        assert searcher._trials[f"t{i}"]["target"] is None
        searcher.on_trial_complete(f"t{i}", {"loss": float(i), "training_iteration": 1})
    searcher.suggest("child")
    # The 10th trial opens the second bracket (budget 3), whose subpopulation is still empty:
    # a mutant of the budget-1 parents, with no target to cross with.
    assert searcher._trials["child"]["budget"] == 3 and searcher._trials["child"]["target"] is None


def test_a_child_is_a_rand1_mutant_when_crossover_takes_every_coordinate():
    searcher = build(crossover_prob=1.0)
    # Coordinates in [0.4, 0.6]: every mutant a + 0.5 (b - c) stays inside [0, 1].
    pool = [np.array([0.4, 0.4, 0.4, 0.4]), np.array([0.5, 0.6, 0.55, 0.45]), np.array([0.45, 0.42, 0.58, 0.5])]
    expected = [a + 0.5 * (b - c) for a in pool for b in pool for c in pool
                if a is not b and b is not c and a is not c]
    searcher._populations[1] = [{"vector": pool[0], "score": 0.0}]
    for _ in range(20):
        child = searcher._child(pool, (1, 0))
        assert any(np.allclose(child, e) for e in expected)


def test_crossover_keeps_target_coordinates_and_takes_one_from_the_mutant_at_least():
    searcher = build(crossover_prob=0.0)
    target = np.array([0.9, 0.9, 0.9, 0.9])
    searcher._populations[1] = [{"vector": target, "score": 0.0}]
    pool = [np.full(4, 0.1), np.full(4, 0.3), np.full(4, 0.2)]
    for _ in range(20):
        child = searcher._child(pool, (1, 0))
        assert (child != target).sum() == 1  # crossover_prob 0: exactly the forced coordinate


def test_out_of_range_mutant_coordinates_are_drawn_afresh():
    searcher = build(crossover_prob=1.0, mutation_factor=2.0)
    pool = [np.full(4, 0.9), np.full(4, 1.0), np.full(4, 0.0)]
    for _ in range(20):
        child = searcher._child(pool, None)
        assert ((0 <= child) & (child <= 1)).all()


def test_selection_replaces_the_target_only_with_a_better_child():
    searcher = build()
    drive(searcher, 9)  # the budget-1 subpopulation is full
    assert len(searcher._populations[1]) == 9
    searcher._proposed = 9 + 5 + 3  # the next trial opens a bracket at budget 1 again
    before = [m["score"] for m in searcher._populations[1]]
    searcher.suggest("worse")
    budget, index = searcher._trials["worse"]["target"]
    searcher.on_trial_complete("worse", {"loss": before[index] + 1.0, "training_iteration": budget})
    assert [m["score"] for m in searcher._populations[1]] == before
    searcher._proposed = 9 + 5 + 3
    searcher.suggest("better")
    budget, index = searcher._trials["better"]["target"]
    searcher.on_trial_complete("better", {"loss": before[index] - 1.0, "training_iteration": budget})
    assert searcher._populations[1][index]["score"] == before[index] - 1.0


def test_a_promoted_trial_enters_the_higher_budget_replacing_the_worst():
    searcher = build()
    searcher.suggest("a")
    searcher.on_trial_result("a", {"loss": 5.0, "training_iteration": 1})
    searcher.on_trial_result("a", {"loss": 4.0, "training_iteration": 2})  # not a rung
    searcher.on_trial_result("a", {"loss": 3.0, "training_iteration": 3})
    assert [m["score"] for m in searcher._populations[3]] == [3.0]
    searcher._populations[3] = [{"vector": np.zeros(4), "score": s} for s in (1.0, 2.0, 9.0, 8.0, 7.0)]
    searcher.suggest("b")
    searcher.on_trial_result("b", {"loss": 6.0, "training_iteration": 1})
    searcher.on_trial_complete("b", {"loss": 4.0, "training_iteration": 3})
    assert sorted(m["score"] for m in searcher._populations[3]) == [1.0, 2.0, 4.0, 7.0, 8.0]


def test_suggestions_are_legal_values_of_every_kind():
    searcher = build(space=EVERY_KIND_SPACE)
    for c in drive(searcher, 60, objective=lambda c: c["x"] ** 2 + c["layers"]):
        assert_legal_every_kind(c)


def test_children_improve_on_the_random_initial_bracket():
    searcher = build(seed=1)
    configs = drive(searcher, 120)
    first, last = [bowl(c) for c in configs[:9]], [bowl(c) for c in configs[-30:]]
    assert np.median(last) < np.median(first) / 2


def test_max_concurrent_counts_running_trials_not_paused_ones():
    searcher = build(max_concurrent=2)
    assert searcher.suggest("a") is not None and searcher.suggest("b") is not None
    assert searcher.suggest("c") is None
    searcher.on_pause("a")
    assert searcher.suggest("c") is not None
    searcher.on_unpause("a")
    assert searcher.suggest("d") is None


def test_saved_state_gives_the_same_next_suggestions(tmp_path):
    searcher = build(seed=3)
    drive(searcher, 25)
    searcher.save(str(tmp_path / "state"))
    expected = drive(searcher, 10, start=25)
    restored = build(seed=99)
    restored.restore(str(tmp_path / "state"))
    assert drive(restored, 10, start=25) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mutation_factor": 0}, "searcher_options.mutation_factor: must be a number in (0, 2], got 0"),
        ({"crossover_prob": 1.5}, "searcher_options.crossover_prob: must be a number in [0, 1], got 1.5"),
        ({"population_size": 2}, "searcher_options.population_size: must be an integer >= 4, got 2"),
    ],
)
def test_bad_options_are_one_line(options, message):
    with pytest.raises(hpo.ConfigError, match=None) as e:
        build_searcher("dehb", BOWL_SPACE, 0, **options)
    assert str(e.value) == message


def test_a_grid_is_refused_in_one_line(storage):
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(multi_fidelity_bowl, {**BOWL_SPACE, "x": hpo.grid([0.1, 0.2])}, metric="loss",
                searcher="dehb", max_t=9, storage=storage)
    assert "searcher 'dehb'" in str(e.value) and "\n" not in str(e.value)


def test_experiment_runs_hyperbands_brackets_with_the_default_scheduler(ray_cluster, storage):
    res = hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", searcher="dehb", max_t=9,
                  num_samples=9 + 5 + 3, seed=0, storage=storage, name="dehb", verbose=0)
    assert res.num_errors == 0
    assert hpo.load(res.path).dataframe() is not None
    # Bracket s=2: 9 trials at 1 iteration, 3 go on to 3, 1 to 9; s=1: 5 at 3, 1 to 9; s=0: 3 at 9.
    assert sorted(t.iterations for t in res.trials) == [1] * 6 + [3] * 6 + [9] * 5
    assert len({repr(t.config) for t in res.trials}) == 17


def test_the_option_table_and_the_algorithm_agree_on_the_defaults():
    from raytune_hpo.searchers._dehb import OPTIONS, DifferentialEvolutionHyperband

    signature = inspect.signature(DifferentialEvolutionHyperband.__init__).parameters
    assert OPTIONS.defaults() == {name: signature[name].default for name in OPTIONS.options}
