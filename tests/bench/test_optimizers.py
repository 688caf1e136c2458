"""The optimiser benchmark's arithmetic (trajectories, fractions of the budget to reach the
target, speed-ups, regrets, Mann–Whitney p-values; hypervolume trajectories) on hand-made runs;
random streams apart per pairing and a target no pairing's seeds move; tiny benchmarks (the
reference implementations; Branin-Currin) and their read-back; a run that lost reports refused;
and the command line's answers to bad arguments."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from raytune_hpo._objectives import Objectives
from raytune_hpo.bench.optimizers import (
    PAIRINGS,
    TARGET_POOL,
    BenchError,
    Run,
    hypervolume_trajectory,
    mann_whitney,
    optimizers,
    pool_target,
    run_pairing,
    stream,
    summarise,
    table,
    trajectory,
)
from raytune_hpo.bench.problems import MAX_T, Problem, problems


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


def test_fraction_and_speed_up_are_the_budget_spent_to_reach_the_problems_one_target():
    runs = [
        run("random", 0, [(10, 5.0), (90, 2.0)]),  # reaches 3.0 after 90 of 100
        run("random", 1, [(10, 4.0), (50, 3.5)]),  # never
        run("fast", 0, [(5, 3.0), (20, 2.0)]),  # after 5
        run("fast", 1, [(30, 3.0), (60, 1.0)]),  # after 30
        run("slow", 0, [(50, 2.5), (101, 1.0)]),  # after 50; 1.0 comes after the budget
        run("slow", 1, [(99, 4.0)]),  # never
    ]
    rows = {row.pairing: row for row in summarise(runs, {"p": 0.0}, {"p": 3.0})}
    assert rows["random"].fractions == [0.9, None] and rows["random"].reached == 1
    assert rows["fast"].fractions == [0.05, 0.3] and rows["fast"].median_fraction == 0.175
    assert rows["fast"].speed_up == pytest.approx(1 / 0.175)  # random search's median budget: all of it
    assert rows["slow"].fractions == [0.5, None] and math.isinf(rows["slow"].median_fraction)
    assert (rows["fast"].within(0.10), rows["fast"].within(0.30), rows["slow"].within(1.0)) == (1, 2, 1)
    assert rows["slow"].speed_up == 0
    assert rows["fast"].regrets == [2.0, 1.0] and rows["slow"].regrets == [2.5, 4.0]
    text = table(list(rows.values()), {"p": 3.0})
    p_value = f"{rows['fast'].p_random:.2f}"  # the test's arithmetic is checked apart, below
    assert f"| p | fast | 2/2 | 0.175 [0.113, 0.237] | 5.7x | 1.5 [1.25, 1.75] | {p_value} |  |" in text
    assert "| p | slow | 1/2 | never [never, never] | < 1x |" in text  # between 0.5 and never: never
    assert "Target on p: 3, random search's median final incumbent over 20 runs of its own" in text


def test_p_values_compare_each_pairing_with_random_search_and_ours_with_the_reference():
    assert mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)  # exact: 2 of C(10, 5)
    assert mann_whitney([1, 2, 3], [1, 2, 3]) == 1.0 and mann_whitney([2, 2], [2, 2]) == 1.0
    seeds = range(6)
    runs = (
        [run("random", s, [(10, 10.0 + s)]) for s in seeds]
        + [run("bohb", s, [(10, 1.0 + s / 10)]) for s in seeds]
        + [run("hpbandster-bohb", s, [(10, 1.05 + s / 10)]) for s in seeds]
        + [run("dehb", s, [(10, 1.0 + s / 10)]) for s in seeds]  # its reference did not run
    )
    rows = {row.pairing: row for row in summarise(runs, {"p": 0.0}, {"p": 12.0})}
    assert rows["random"].p_random is None
    assert rows["bohb"].p_random == pytest.approx(2 / 924)  # 6 against 6, none overlapping
    # Interleaved with its reference: U = 15 of 36, exact p = 2 P(U <= 15) = 0.699.
    assert (rows["bohb"].reference, rows["bohb"].p_reference) == ("hpbandster-bohb", pytest.approx(0.699, abs=0.001))
    assert rows["dehb"].reference is None and rows["hpbandster-bohb"].reference is None
    text = table(list(rows.values()), {"p": 12.0})
    assert "| 0.002 | 0.70 (hpbandster-bohb) |" in text


def test_regret_against_the_best_any_run_found_when_the_optimum_is_unknown():
    runs = [run("random", 0, [(10, 5.0)]), run("other", 0, [(10, 4.0)])]
    rows = {row.pairing: row for row in summarise(runs, {"p": None}, {"p": 5.0})}
    assert rows["random"].regrets == [1.0] and rows["other"].regrets == [0.0]


def test_each_pairing_and_the_target_pool_draw_their_own_random_stream():
    names = [*PAIRINGS, TARGET_POOL]
    streams = {stream(name, seed) for name in names for seed in range(100)}
    assert len(streams) == len(names) * 100  # none shared
    assert stream("random", 3) == stream("random", 3)  # and each the same on every machine


def test_the_target_does_not_depend_on_any_pairings_seeds(ray_cluster, tmp_path, capsys):
    """Two benchmarks whose pairings draw other streams (seeds 0 and 7) score against one
    target: the pool's runs find the same incumbents, and the target is the same."""
    common = dict(problem_names=["branin"], pairings=["random"], budget=54, target_runs=2)
    rows = {}
    for seed in (0, 7):
        rows[seed], text = optimizers(seeds=[seed], out=str(tmp_path / f"seed{seed}"), **common)
        assert "Target on branin" in text
    pools, anchors = {}, {}
    for seed in (0, 7):
        runs = [json.loads(line) for line in (tmp_path / f"seed{seed}" / "runs.jsonl").read_text().splitlines()]
        assert [(r["pairing"], r["seed"]) for r in runs] == [(TARGET_POOL, 0), (TARGET_POOL, 1), ("random", seed)]
        # Two trials at a time interleave their reports as the machine's timing has it; the
        # final incumbent, which the target is made of, does not depend on it.
        pools[seed] = [(r["stream"], r["trajectory"][-1][1]) for r in runs[:2]]
        anchors[seed] = runs[2]["stream"]
    assert anchors[0] != anchors[7]  # the pairing's stream changed ...
    assert pools[0] == pools[7]  # ... and the pool, its target with it, did not
    target = {seed: [line for line in text.splitlines() if line.startswith("Target")] for seed in (0, 7)}
    assert target[0] == target[7]


def test_a_tiny_benchmark_with_the_reference_implementations_and_its_rerun(ray_cluster, tmp_path, capsys):
    out = tmp_path / "bench"
    references = ["ray-bohb", "hpbandster-bohb", "dehb-package", "optuna-plain"]
    arguments = dict(
        seeds=[0], problem_names=["branin"], pairings=["bohb", *references], budget=108, out=str(out), target_runs=1
    )
    rows, text = optimizers(**arguments)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    # The target's pool, then random search (the anchor, even when not asked for), then the rest.
    assert [r["pairing"] for r in runs] == [TARGET_POOL, "random", "bohb", *references]
    for r in runs:
        spent = [used for used, _ in r["trajectory"]]
        assert spent == sorted(spent) and spent[-1] <= 108 and r["reports"] >= 108
        assert r["stream"] == stream(r["pairing"], r["seed"])
    by_name = {r["pairing"]: r for r in runs}
    assert by_name["random"]["trials"] == 4  # 108 iterations = 4 trials of 27
    for name in ("bohb", *references):  # the first bracket's many trials of 1 iteration
        assert by_name[name]["trials"] > 4, name
    assert by_name["hpbandster-bohb"]["fresh"] > 108 and by_name["dehb-package"]["fresh"] >= 108
    assert by_name["optuna-plain"]["fresh"] is None and by_name["bohb"]["fresh"] is None
    assert [row.pairing for row in rows] == ["random", "bohb", *references]
    row = {row.pairing: row for row in rows}
    assert row["bohb"].reference == row["ray-bohb"].reference == "hpbandster-bohb"
    assert (out / "table.md").read_text().strip() == text
    assert (out / "best_so_far.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    optimizers(**arguments)
    assert " seed 0:" not in capsys.readouterr().out  # read back, not run again
    assert len((out / "runs.jsonl").read_text().splitlines()) == len(runs)


def _one_iteration(config: dict) -> None:
    import raytune_hpo as hpo

    hpo.report(value=1.0, true_value=1.0, reported_at=0.0)


def test_a_run_whose_record_does_not_reach_its_budget_is_refused(ray_cluster, tmp_path):
    """Here the trainable stops after one report instead of 27: 2 reports for a budget of 54."""
    short = Problem("short", problems()["branin"].space, _one_iteration, 0.0)
    with pytest.raises(BenchError, match="short random seed 3: 2 reports recorded for a budget of 54 iterations"):
        run_pairing(short, "random", 3, 2 * MAX_T, str(tmp_path), 1.0)


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
    pool = [hv_run(TARGET_POOL, i, [(50, v)]) for i, v in enumerate([1.0, 3.0, 5.0, 7.0])]
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
    text = table(list(rows.values()), {"two": 4.0}, pool=4)
    assert "final regret (hypervolume gap where several objectives)" in text
    assert "| two | fast | 2/2 | 0.175 [0.113, 0.237] | 5.7x | 2.5 [1.75, 3.25] |" in text
    assert "Target on two: 4, random search's median final hypervolume over 4 runs of its own" in text


def test_a_tiny_multiobjective_benchmark_and_its_rerun(ray_cluster, tmp_path, capsys):
    out = tmp_path / "bench"
    # Random search's seed 1 finds a point inside Branin-Currin's reference box [18, 6] within 4
    # trials (only 4 % of the square is): its hypervolume grows from zero.
    arguments = dict(
        seeds=[1], problem_names=["branin_currin"], pairings=["random"], budget=108, out=str(out), target_runs=1
    )
    rows, text = optimizers(**arguments)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    # The target's pool first, then the pairings.
    assert [(r["pairing"], r["seed"], r["budget"], r["trials"]) for r in runs] == [
        (TARGET_POOL, 0, 108, 4),
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
            ["--problems", "branin_currin", "--pairings", "random", "hyperopt"],
            "--pairings: 'hyperopt' takes one objective and branin_currin has 2; on it use random",
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
