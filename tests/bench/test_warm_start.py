"""bench warm-start: the first run's wider space, the score of a warm run against its cold
twin, and a tiny benchmark run for real and read back."""

from __future__ import annotations

import json
import math

from raytune_hpo.bench.optimizers import Run
from raytune_hpo.bench.problems import problems
from raytune_hpo.bench.warm_start import WarmRun, table, warm_start, wider
from raytune_hpo.space import Float


def test_the_first_run_searches_a_space_a_quarter_wider_on_each_side():
    space = wider(problems()["branin"])
    assert space["x1"] == Float(-8.75, 13.75) and space["x2"] == Float(-3.75, 18.75)
    assert space["max_t"] == problems()["branin"].space["max_t"]


def run(role: str, seed: int, trajectory: list[tuple[int, float]], used: int = 0) -> WarmRun:
    record = WarmRun(role, Run("branin", "tpe", seed, 100, trajectory, 4, 1.0))
    if role == "warm":
        record.warm_start = {"sources": ["first"], "used": used, "skipped": {"with x1 outside the space": 40 - used}}
    return record


def test_a_warm_run_is_scored_by_the_budget_it_needs_to_reach_its_cold_twins_final_incumbent():
    runs = [
        run("cold", 0, [(1, 5.0), (90, 1.0)]), run("warm", 0, [(1, 2.0), (30, 0.9)], used=30),  # 0.30
        run("cold", 1, [(1, 5.0), (50, 2.0)]), run("warm", 1, [(10, 1.5)], used=32),  # 0.10
        run("cold", 2, [(1, 0.5)]), run("warm", 2, [(1, 0.8)], used=28),  # never
    ]
    (row,) = table(runs, {"branin": 0.4}).splitlines()[2:]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["branin", "tpe", "0.300", "2/3"]
    assert cells[4].startswith("0.6 [") and cells[6] == "30 / 10"
    # after 10 of the 100 iterations: cold 4.6, 4.6, 0.1; warm 1.6, 1.1 (seed 1's 1.5 at 10), 0.4
    assert cells[7] == "4.6 / 1.1" and cells[8] == "2/3"


def test_a_tiny_warm_start_benchmark_runs_first_cold_and_warm(ray_cluster, tmp_path, capsys):
    out = tmp_path / "bench"
    text = warm_start([0], ["branin"], ["tpe"], budget=54, out=str(out))
    with open(out / "runs.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert [r["role"] for r in rows] == ["first", "cold", "warm"]
    warm = rows[2]["warm_start"]
    assert warm["used"] + sum(warm["skipped"].values()) == rows[0]["run"]["trials"] == 2
    assert all(r["run"]["seed"] == 0 for r in rows) and math.isfinite(rows[1]["run"]["trajectory"][-1][1])
    assert "| branin | tpe |" in text and (out / "table.md").read_text().strip() == text
    assert warm_start([0], ["branin"], ["tpe"], budget=54, out=str(out)) == text  # read back, not run again
    assert capsys.readouterr().out.count("branin tpe seed 0") == 3  # the rerun ran nothing
