"""``hyperband`` is Li et al. (2018), Algorithm 1: its brackets against the paper's Table 1, and a
run in which every bracket holds exactly the trials the algorithm gives it; ``bohb`` still
pairs with it; Ray's variant stays available as ``hyperband_async``."""

from __future__ import annotations

import collections
import math

import pytest

import raytune_hpo as hpo
from raytune_hpo.schedulers._rungs import hyperband_plans

# Li et al. 2018, Table 1: R = 81, η = 3; for each bracket s, the (n_i, r_i) of its rounds.
TABLE_1 = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(27, 3), (9, 9), (3, 27), (1, 81)],
    2: [(9, 9), (3, 27), (1, 81)],
    1: [(6, 27), (2, 81)],
    0: [(5, 81)],
}


def algorithm_1(R: int, eta: int, integer_division: bool = False) -> dict:
    """Algorithm 1 transcribed line by line (integer R and η), or with Table 1's n."""
    s_max = 0
    while eta ** (s_max + 1) <= R:
        s_max += 1
    B = (s_max + 1) * R
    out = {}
    for s in range(s_max, -1, -1):
        if integer_division:
            n = (B // R // (s + 1)) * eta**s
        else:
            n = -(-B * eta**s // (R * (s + 1)))  # ceil(B/R · η^s / (s+1)), in integers
        r = R / eta**s
        out[s] = [(n // eta**i, r * eta**i) for i in range(s + 1)]
    return out


def test_brackets_for_the_papers_setting_follow_algorithm_1():
    brackets = hpo.hyperband_brackets(81, 3)
    assert list(brackets) == [4, 3, 2, 1, 0]
    assert brackets == {
        4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        3: [(34, 3), (11, 9), (3, 27), (1, 81)],
        2: [(15, 9), (5, 27), (1, 81)],
        1: [(8, 27), (2, 81)],
        0: [(5, 81)],
    }
    assert all(type(n) is int and type(r) is int for pairs in brackets.values() for n, r in pairs)


def test_they_differ_from_table_1_only_where_its_integer_division_does():
    brackets = hpo.hyperband_brackets(81, 3)
    # The transcription of the table is right: integer division reproduces it exactly.
    assert algorithm_1(81, 3, integer_division=True) == TABLE_1
    for s in TABLE_1:
        assert [r for _, r in brackets[s]] == [r for _, r in TABLE_1[s]]  # same budgets
        if s in (0, 4):
            assert brackets[s] == TABLE_1[s]
        else:  # n is rounded up (34, 15, 8) where the table floors first (27, 9, 6)
            assert brackets[s][0][0] > TABLE_1[s][0][0]
            assert [n for n, _ in brackets[s]] == [math.floor(brackets[s][0][0] / 3**i) for i in range(s + 1)]


@pytest.mark.parametrize(("R", "eta"), [(81, 3), (27, 3), (9, 3), (16, 2), (100, 3), (243, 3), (1, 3), (2, 2), (1000, 10)])
def test_brackets_equal_algorithm_1_transcribed(R, eta):
    ours, expected = hpo.hyperband_brackets(R, eta), algorithm_1(R, eta)
    assert list(ours) == list(expected)
    for s in ours:
        assert [n for n, _ in ours[s]] == [n for n, _ in expected[s]]
        assert [r for _, r in ours[s]] == pytest.approx([r for _, r in expected[s]], rel=1e-12)


def test_each_bracket_spends_about_b_and_each_round_at_least_b_over_s_plus_1():
    R, eta = 81, 3
    B = 5 * R
    for s, pairs in hpo.hyperband_brackets(R, eta).items():
        assert pairs[0][0] * pairs[0][1] >= B / (s + 1)
        assert 0.85 * B <= sum(n * r for n, r in pairs) <= B + R


def test_resources_that_are_not_whole_come_back_as_floats_and_run_rounded_down():
    assert hpo.hyperband_brackets(10, 3)[2] == [(9, 10 / 9), (3, 10 / 3), (1, 10)]
    assert hyperband_plans(10, 3) == [[(9, 1), (3, 3), (1, 10)], [(5, 3), (1, 10)], [(3, 10)]]
    assert hpo.hyperband_brackets(1, 3) == {0: [(1, 1)]}


@pytest.mark.parametrize(("args", "message"), [
    ((0, 3), "hyperband_brackets: R must be >= 1, got 0"),
    ((81, 1), "hyperband_brackets: eta must be > 1, got 1"),
    (("81", 3), "hyperband_brackets: R must be a number, got '81'"),
])
def test_bad_arguments_are_refused_in_one_line(args, message):
    with pytest.raises(hpo.ConfigError, match=message):
        hpo.hyperband_brackets(*args)


XS = [0.62, 0.15, 0.83, 0.07, 0.44, 0.91, 0.28, 0.55, 0.36,   # bracket s=2: 9 x 1 -> 3 x 3 -> 1 x 9
      0.71, 0.19, 0.95, 0.04, 0.50,                           # bracket s=1: 5 x 3 -> 1 x 9
      0.88, 0.33, 0.12]                                       # bracket s=0: 3 x 9


def descend(config: dict) -> None:
    """Loss x + 1/t; resumes from its checkpoint when promoted."""
    state = hpo.load_checkpoint()
    for t in range((state or {"t": 0})["t"] + 1, 10):
        hpo.report(loss=config["x"] + 1.0 / t, checkpoint={"t": t})


def test_every_bracket_holds_exactly_the_trials_of_algorithm_1(ray_cluster, storage):
    res = hpo.run(descend, {"x": hpo.grid(XS)}, metric="loss", searcher="grid", scheduler="hyperband",
                  max_t=9, resources={"cpu": 0.5}, storage=storage, name="hb", verbose=0)
    assert res.num_errors == 0 and len(res.trials) == 17
    assert all(t.status == "TERMINATED" for t in res.trials)
    by_x = {t.config["x"]: t for t in res.trials}
    start = 0
    for pairs in hpo.hyperband_brackets(9, 3).values():
        xs = XS[start:start + pairs[0][0]]
        start += pairs[0][0]
        reached = {r: sorted(x for x in xs if by_x[x].iterations >= r) for _, r in pairs}
        for n, r in pairs:
            # exactly n_i trials reached r_i, and they were the n_i best of the bracket
            assert reached[r] == sorted(xs)[:n], (pairs, reached)
        for x in xs:  # every stop is at a rung; promoted trials resumed where they paused
            assert by_x[x].iterations in [r for _, r in pairs]
            assert [row["training_iteration"] for row in by_x[x].history] == list(range(1, by_x[x].iterations + 1))
    assert start == len(XS)


def test_a_bracket_left_short_halves_the_trials_it_got(ray_cluster, storage):
    # 4 trials of the 9 that bracket s=2 plans: 4 x 1 -> 1 x 3 -> 1 x 9, decided once the
    # search is over.
    res = hpo.run(descend, {"x": hpo.grid([0.3, 0.1, 0.4, 0.2])}, metric="loss", searcher="grid",
                  scheduler="hyperband", max_t=9, resources={"cpu": 0.5}, storage=storage, name="short",
                  verbose=0)
    assert res.num_errors == 0
    assert {t.config["x"]: t.iterations for t in res.trials} == {0.1: 9, 0.2: 1, 0.3: 1, 0.4: 1}


def test_bohb_searcher_runs_with_hyperband(ray_cluster, storage):
    from tests.helpers import BOWL_SPACE, multi_fidelity_bowl

    # max_t 3, η 3: brackets s=1 (3 x 1 -> 1 x 3) and s=0 (2 x 3)
    res = hpo.run(multi_fidelity_bowl, {**BOWL_SPACE, "iterations": 3}, metric="loss", searcher="bohb",
                  scheduler="hyperband", num_samples=5, max_t=3, seed=0, resources={"cpu": 0.5},
                  storage=storage, name="bohb", searcher_options={"n_initial_points": 2}, verbose=0)
    assert res.num_errors == 0 and len(res.trials) == 5
    assert all(t.status == "TERMINATED" for t in res.trials)
    counts = collections.Counter(t.iterations for t in res.trials)
    assert counts == {1: 2, 3: 3}, counts


def test_rays_variant_keeps_a_name_of_its_own():
    assert "hyperband_async" in hpo.SCHEDULERS and "Ray" in hpo.SCHEDULERS["hyperband_async"]
    assert "Algorithm 1" in hpo.SCHEDULERS["hyperband"]
