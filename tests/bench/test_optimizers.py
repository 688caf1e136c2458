"""The optimiser benchmark's arithmetic (trajectories, fractions of random search's budget,
regrets; hypervolume trajectories and an independent target with several objectives) on
hand-made runs, tiny benchmarks (plain Ray Tune's BOHB; Branin-Currin) and their read-back,
and the command line's answers to bad arguments."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from raytune_hpo._objectives import Objectives
from raytune_hpo.bench.optimizers import (
    Run,
    hypervolume_trajectory,
    optimizers,
    pool_target,
    summarise,
    table,
    trajectory,
)
from raytune_hpo.bench.problems import Problem


def reports(*values, true=None) -> list[dict]:
    """Reports made in the order given (``reported_at`` shuffled on purpose)."""
    rows = [
        {"reported_at": 100.0 + i, "value": v, "true_value": v if true is None else true[i]}
        for i, v in enumerate(values)
    ]
    return rows[::-1]


def test_trajectory_follows_the_incumbent_in_report_order_up_to_the_budget():
    assert trajectory(reports(5.0, 3.0, 4.0, 1.0, 0.5), budget=4) == [(1, 5.0), (2, 3.0), (4, 1.0)]


def test_the_incumbent_is_chosen_by_the_metric_and_worth_its_true_value():
    # A noisy report looks best (0.5) but is worth 2.0: the incumbent's worth goes up.
    points = trajectory(reports(1.5, 0.5, 1.0, true=[1.5, 2.0, 1.0]), budget=10)
    assert points == [(1, 1.5), (2, 2.0)]


def run(pairing: str, seed: int, points, problem: str = "p", budget: int = 100) -> Run:
    return Run(problem, pairing, seed, budget, points, trials=1, seconds=0.0)


def test_fraction_is_the_budget_spent_to_reach_random_searchs_final_incumbent():
    runs = [
        run("random", 0, [(10, 5.0), (90, 2.0)]),
        run("random", 1, [(10, 4.0), (50, 3.0)]),
        run("fast", 0, [(5, 3.0), (20, 2.0)]),  # reaches 2.0 after 20 of 100
        run("fast", 1, [(30, 3.0), (60, 1.0)]),  # reaches 3.0 after 30
        run("slow", 0, [(50, 2.5), (101, 1.0)]),  # 1.0 comes after the budget: never
        run("slow", 1, [(99, 3.0)]),
    ]
    rows = {row.pairing: row for row in summarise(runs, {"p": 0.0})}
    assert rows["random"].fractions == [0.9, 0.5]
    assert rows["fast"].fractions == [0.2, 0.3] and rows["fast"].median_fraction == 0.25
    assert rows["slow"].fractions == [None, 0.99] and math.isinf(rows["slow"].median_fraction)
    assert rows["slow"].reached == 1
    assert rows["fast"].regrets == [2.0, 1.0] and rows["slow"].regrets == [2.5, 3.0]
    text = table(list(rows.values()))
    assert "| p | fast | 0.250 | 2/2 | 1.5 [1.25, 1.75] |" in text
    assert "| p | slow | never | 1/2 |" in text


def test_regret_against_the_best_any_run_found_when_the_optimum_is_unknown():
    runs = [run("random", 0, [(10, 5.0)]), run("other", 0, [(10, 4.0)])]
    rows = {row.pairing: row for row in summarise(runs, {"p": None})}
    assert rows["random"].regrets == [1.0] and rows["other"].regrets == [0.0]


def test_a_tiny_benchmark_and_its_rerun(ray_cluster, tmp_path, capsys):
    out = tmp_path / "bench"
    arguments = dict(seeds=[0], problem_names=["branin"], pairings=["dehb", "ray-bohb"], budget=54, out=str(out))
    rows, text = optimizers(**arguments)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    # Random search, the anchor, runs first even when not asked for.
    assert [(r["pairing"], r["budget"]) for r in runs] == [("random", 54), ("dehb", 54), ("ray-bohb", 54)]
    for r in runs:
        spent = [used for used, _ in r["trajectory"]]
        assert spent == sorted(spent) and spent[-1] <= 54
    assert runs[0]["trials"] == 2  # random search: 54 iterations = 2 trials of 27
    assert runs[1]["trials"] > 2  # DEHB's first bracket starts many trials of 1 iteration
    assert (out / "table.md").read_text().strip() == text
    assert [row.pairing for row in rows] == ["random", "dehb", "ray-bohb"]
    assert (out / "best_so_far.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    optimizers(**arguments)
    assert " seed 0:" not in capsys.readouterr().out  # read back, not run again
    assert len((out / "runs.jsonl").read_text().splitlines()) == 3


# -- several objectives ------------------------------------------------------------------------

TWO = Problem("two", {}, print, None, objectives=("a", "b"), reference=(4.0, 4.0))


def reports_ab(*points) -> list[dict]:
    """Reports of (a, b), made in the order given (``reported_at`` shuffled on purpose)."""
    return [{"reported_at": 100.0 + i, "a": a, "b": b} for i, (a, b) in enumerate(points)][::-1]


def test_hypervolume_trajectory_grows_with_the_front_of_every_report_in_report_order():
    made = reports_ab(
        (5.0, 1.0),  # beyond the reference point: adds nothing
        (2.0, 3.0),  # (4 - 2)(4 - 3) = 2
        (3.0, 3.5),  # dominated by the one before
        (1.0, 1.0),  # dominates every point so far: 3 · 3 = 9
        (0.5, 3.0),  # widens the front: 9 + 0.5 · 1
        (0.0, 0.0),  # after the budget
    )
    assert trajectory(made, budget=5, problem=TWO) == [(2, 2.0), (4, 9.0), (5, 9.5)]
    assert trajectory(made, budget=6, problem=TWO)[-1] == (6, 16.0)


def test_an_infeasible_report_is_not_on_the_front():
    objectives = Objectives.of(["a", "b"], ["min", "min"], {"mem": ("<=", 1.0)})
    made = [{"a": 2.0, "b": 2.0, "mem": 0.5}, {"a": 0.0, "b": 0.0, "mem": 1.5}, {"a": 1.0, "b": 3.0, "mem": 1.0}]
    assert hypervolume_trajectory(made, objectives, (4.0, 4.0)) == [(1, 4.0), (3, 5.0)]


def hv_run(pairing: str, seed: int, points, budget: int = 100) -> Run:
    return Run("two", pairing, seed, budget, points, trials=1, seconds=0.0, hypervolume=True)


def test_with_several_objectives_every_seed_is_scored_against_one_target_from_an_independent_pool():
    pool = [hv_run("random", 100 + i, [(50, v)]) for i, v in enumerate([1.0, 3.0, 5.0, 7.0])]
    assert pool_target(pool) == 4.0  # the median final hypervolume
    runs = [
        hv_run("random", 0, [(10, 2.0), (80, 4.5)]),  # reaches 4 after 80 of 100
        hv_run("random", 1, [(10, 3.0)]),  # never
        hv_run("fast", 0, [(5, 4.0), (20, 9.0)]),  # as good as the target after 5
        hv_run("fast", 1, [(30, 6.0), (101, 10.0)]),  # after 30; 10.0 comes after the budget
    ]
    rows = {row.pairing: row for row in summarise(runs, {"two": 10.0}, {"two": 4.0})}
    assert rows["random"].fractions == [0.8, None] and rows["random"].reached == 1
    assert rows["fast"].fractions == [0.05, 0.3] and rows["fast"].median_fraction == 0.175
    # Regret: the gap between the largest hypervolume known and the final one.
    assert rows["random"].regrets == [5.5, 7.0] and rows["fast"].regrets == [1.0, 4.0]
    assert runs[0].incumbent_at(5) == 0.0 and runs[0].regret(10.0, spent=5) == 10.0
    # Unknown: the gap to the largest any run found.
    assert {row.pairing: row.regrets for row in summarise(runs, {"two": None}, {"two": 4.0})}["fast"] == [0.0, 3.0]
    text = table(list(rows.values()), {"two": 4.0})
    assert "final regret (hypervolume gap where several objectives)" in text
    assert "| two | fast | 0.175 | 2/2 | 2.5 [1.75, 3.25] |" in text
    assert "Target on two: hypervolume 4, random search's median final hypervolume over seeds 100-109" in text


def test_a_tiny_multiobjective_benchmark_and_its_rerun(ray_cluster, tmp_path, capsys):
    out = tmp_path / "bench"
    # Random search's seed 1 finds a point inside Branin-Currin's reference box [18, 6] within 4
    # trials (only 4 % of the square is): its hypervolume grows from zero.
    arguments = dict(
        seeds=[1], problem_names=["branin_currin"], pairings=["random"], budget=108, out=str(out), target_seeds=[0]
    )
    rows, text = optimizers(**arguments)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    # The target's pool first, then the pairings.
    assert [(r["pairing"], r["seed"], r["budget"], r["trials"]) for r in runs] == [
        ("random", 0, 108, 4),
        ("random", 1, 108, 4),
    ]
    assert all(r["hypervolume"] for r in runs)
    spent = [used for used, _ in runs[1]["trajectory"]]
    volumes = [v for _, v in runs[1]["trajectory"]]
    assert spent == sorted(spent) and spent[-1] <= 108
    assert volumes == sorted(volumes) and 0 < volumes[0] and volumes[-1] < 59.3602
    (row,) = rows
    assert (row.problem, row.pairing, row.hypervolume) == ("branin_currin", "random", True)
    assert row.regrets == [pytest.approx(59.36011874867746 - volumes[-1])]
    assert "Target on branin_currin" in text and (out / "table.md").read_text().strip() == text
    assert (out / "best_so_far.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    again, _ = optimizers(**arguments)
    assert " seed " not in capsys.readouterr().out  # read back, not run again
    assert again == rows and len((out / "runs.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--problems", "rosenbrock"],
            "--problems: unknown 'rosenbrock'; choose from branin, hartmann6, counting_ones, digits",
        ),
        (["--pairings", "tpe+bohb"], "--pairings: unknown 'tpe+bohb'; choose from random,"),
        (["--seeds", "0"], "--seeds"),
        (
            ["--problems", "branin_currin", "--pairings", "random", "tpe"],
            "--pairings: 'tpe' takes one objective and branin_currin has 2; on it use random",
        ),
        (
            ["--problems", "digits_size", "--first-seed", "95"],
            "--seeds: seed 100 is one of random search's target pool on digits_size (100-109); choose seeds outside it",
        ),
    ],
)
def test_bad_arguments_are_one_line(arguments, message):
    done = subprocess.run(
        [sys.executable, "-m", "raytune_hpo", "bench", "optimizers", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
