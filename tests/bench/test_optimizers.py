"""The optimiser benchmark's arithmetic (trajectories, fractions of random search's budget,
regrets) on hand-made runs, one tiny benchmark with plain Ray Tune's BOHB, and the command
line's answers to bad arguments."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from raytune_hpo.bench.optimizers import Run, optimizers, summarise, table, trajectory


def reports(*values, true=None) -> list[dict]:
    """Reports made in the order given (``reported_at`` shuffled on purpose)."""
    rows = [{"reported_at": 100.0 + i, "value": v, "true_value": v if true is None else true[i]}
            for i, v in enumerate(values)]
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


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--problems", "rosenbrock"], "--problems: unknown 'rosenbrock'; choose from branin, hartmann6, counting_ones, digits"),
        (["--pairings", "tpe+bohb"], "--pairings: unknown 'tpe+bohb'; choose from random,"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_bad_arguments_are_one_line(arguments, message):
    done = subprocess.run([sys.executable, "-m", "raytune_hpo", "bench", "optimizers", *arguments],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
