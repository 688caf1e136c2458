"""``raytune-hpo bench warm-start``: how much of its budget a warm-started run needs to reach
what the same run started cold ends with.

For each problem, pairing and seed s, three runs of :mod:`raytune_hpo.bench.optimizers` (its
problems, pairings and budget counted in training iterations, two trials at a time):

1. *first*: the pairing with seed s + ``FIRST_SEED_OFFSET`` over a *wider* space (every float's
   range widened by ``WIDEN`` of its width on each side), as a user's first try;
2. *cold*: the pairing with seed s over the problem's own space;
3. *warm*: the same as *cold*, ``warm_start=[first]``: the first run's trials that fall outside
   the narrower space are skipped, the others given to the searcher.

The warm run's *fraction* is the budget it spent before its incumbent was as good as the cold
run's final incumbent, divided by the budget (``never`` where it was not); the table gives its
median over seeds, how many seeds reached it, both runs' final regret (median and quartiles),
the median number of earlier trials the warm start used and skipped, and both runs' regret after
``EARLY`` (a tenth) of the budget, with the number of seeds where the warm run was ahead there. Each finished run is
appended to ``runs.jsonl`` in the output folder, which a rerun with the same folder reads back.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from raytune_hpo.bench.optimizers import BUDGET, Run, run_pairing
from raytune_hpo.bench.problems import Problem, problems
from raytune_hpo.space import Float, Space

FIRST_SEED_OFFSET = 1000
WIDEN = 0.25
PROBLEMS = ("branin", "hartmann6")
PAIRINGS = ("tpe",)
ROLES = ("first", "cold", "warm")
EARLY = 0.1  # the share of the budget after which the table also compares the two runs' regret


@dataclass
class WarmRun:
    role: str  # first, cold or warm
    run: Run
    warm_start: dict | None = None  # the warm run's manifest record: sources, used, skipped


def wider(problem: Problem) -> dict:
    """The problem's space with every float's range widened by ``WIDEN`` of its width on each
    side (log-scaled ones in log space)."""
    space = dict(problem.space)
    for name, p in Space(space).params.items():
        if isinstance(p, Float) and "/" not in name:
            if p.log:
                span = math.log(p.high / p.low) * WIDEN
                space[name] = Float(p.low / math.exp(span), p.high * math.exp(span), log=True, q=p.q)
            else:
                span = (p.high - p.low) * WIDEN
                space[name] = Float(p.low - span, p.high + span, q=p.q)
    return space


def warm_start(
    seeds: Sequence[int],
    problem_names: Sequence[str] = PROBLEMS,
    pairings: Sequence[str] = PAIRINGS,
    budget: int = BUDGET,
    out: str = "bench-warm-start",
) -> str:
    """Run the first, cold and warm runs of every pairing on every problem for every seed;
    returns the table (also written to ``out/table.md``)."""
    import ray

    from raytune_hpo._ray.session import init_ray
    from raytune_hpo.manifest import read_manifest

    suite = problems()
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "runs.jsonl")
    runs = read_runs(log)
    if not ray.is_initialized():
        init_ray()
    cpus = max(1.0, ray.cluster_resources().get("CPU", 2) / 2)  # two trials at a time
    with tempfile.TemporaryDirectory(prefix="hpo-bench-warm-start-") as storage:
        for name, pairing, seed in ((n, p, s) for n in problem_names for p in pairings for s in seeds):
            problem = suite[name]
            have = {r.role for r in runs if (r.run.problem, r.run.pairing, r.run.seed) == (name, pairing, seed)}
            if {"cold", "warm"} <= have:
                continue
            first = os.path.join(storage, f"{name}-{pairing}-{seed}-first")  # run again: it is not kept
            options: dict[str, dict[str, Any]] = {
                "first": {"space": wider(problem)},
                "cold": {},
                "warm": {"warm_start": [first]},
            }
            for role in ROLES:
                if role == "cold" and role in have:
                    continue
                run_seed = seed + FIRST_SEED_OFFSET if role == "first" else seed
                experiment = f"{name}-{pairing}-{seed}-{role}"
                run = run_pairing(problem, pairing, run_seed, budget, storage, cpus, experiment, **options[role])
                run.seed = seed  # the triple's seed, whichever its first run drew from
                record = WarmRun(role, run)
                if role == "warm":
                    record.warm_start = (read_manifest(os.path.join(storage, experiment)) or {}).get("warm_start")
                if role not in have:
                    runs.append(record)
                    with open(log, "a") as f:
                        f.write(json.dumps(asdict(record)) + "\n")
                print(f"{name} {pairing} seed {seed} {role}: final {run.final:.4g}, {run.trials} trials", flush=True)
    text = table(
        [r for r in runs if r.run.problem in problem_names and r.run.pairing in pairings and r.run.seed in seeds],
        {name: suite[name].optimum for name in problem_names},
    )
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text + "\n")
    return text


def table(runs: Sequence[WarmRun], optima: dict[str, float | None]) -> str:
    """A row per problem and pairing (see the module's docstring)."""
    lines = [
        "| problem | pairing | warm run's budget to reach the cold run's final incumbent (fraction, median) "
        "| reached | final regret cold, median [25 %, 75 %] | final regret warm | earlier trials used / skipped "
        f"(median) | regret after {EARLY:.0%} of the budget, cold / warm (median) | warm ahead there |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((r.run.problem, r.run.pairing) for r in runs)
    for problem, pairing in keys:
        by_seed: dict[int, dict[str, WarmRun]] = {}
        for r in runs:
            if (r.run.problem, r.run.pairing) == (problem, pairing):
                by_seed.setdefault(r.run.seed, {})[r.role] = r
        pairs = [(s["cold"], s["warm"]) for s in by_seed.values() if "cold" in s and "warm" in s]
        if not pairs:
            continue
        optimum = optima.get(problem)
        if optimum is None:
            optimum = min(min(c.run.final, w.run.final) for c, w in pairs)
        fractions = []
        for cold, warm in pairs:
            used = warm.run.reached(cold.run.final)
            fractions.append(math.inf if used is None else used / warm.run.budget)
        median = float(np.median(fractions))
        reached = sum(not math.isinf(f) for f in fractions)
        counts = [w.warm_start or {} for _, w in pairs]
        used_trials = np.median([c.get("used", 0) for c in counts])
        skipped = np.median([sum((c.get("skipped") or {}).values()) for c in counts])
        early = [
            (c.run.regret(optimum, int(EARLY * c.run.budget)), w.run.regret(optimum, int(EARLY * w.run.budget)))
            for c, w in pairs
        ]
        lines.append(
            f"| {problem} | {pairing} | {'never' if math.isinf(median) else f'{median:.3f}'} | "
            f"{reached}/{len(pairs)} | {_quartiles([c.run.final - optimum for c, _ in pairs])} | "
            f"{_quartiles([w.run.final - optimum for _, w in pairs])} | {used_trials:g} / {skipped:g} | "
            f"{np.median([c for c, _ in early]):.3g} / {np.median([w for _, w in early]):.3g} | "
            f"{sum(w < c for c, w in early)}/{len(early)} |"
        )
    return "\n".join(lines)


def _quartiles(values: Sequence[float]) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{q50:.3g} [{q25:.3g}, {q75:.3g}]"


def read_runs(path: str) -> list[WarmRun]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [
        WarmRun(
            row["role"],
            Run(**{**row["run"], "trajectory": [tuple(p) for p in row["run"]["trajectory"]]}),
            row.get("warm_start"),
        )
        for row in rows
    ]
