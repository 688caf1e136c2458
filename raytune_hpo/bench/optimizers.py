"""``raytune-hpo bench optimizers``: searcher × scheduler pairings, and the reference
implementations of the same algorithms, on the multi-fidelity problems of
:mod:`raytune_hpo.bench.problems`, budget counted in training iterations.

Every run gets the same budget (``budget`` iterations, by default 1,080 = 40 full trials of
27 iterations) and runs two trials at a time. Its *trajectory* orders every report of every
trial by the time it was made (``reported_at``) and follows the incumbent: the report with the
lowest ``value`` so far, worth its ``true_value`` (the same number except on noisy
counting-ones). A run records how many reports it holds, and one that holds fewer than its
budget is refused: it would be scored on reports that were lost.

Seeds. A run of pairing P with seed s passes its optimiser the seed :func:`stream` (P, s),
drawn from the pairing's name and s: no two pairings share a random stream. (They used to:
random search, ``random+asha`` and ``random+hyperband`` of the same seed drew the same
configurations, and DEHB's first population too.)

The target. Per problem, the median final incumbent of random search over a pool of
``TARGET_RUNS`` (20) runs of its own (pairing ``target-pool``, whose streams no pairing draws):
every pairing and seed is scored against that one number. The former target, random search's
final incumbent in the same seed, was biased towards the pairings that shared random search's
stream: they reached it whenever the target's own configuration was promoted to full fidelity.

- a pairing's *fraction* (per seed) is the budget it spent before its incumbent was as good as
  the target, divided by the budget (``never`` where it was not within the budget);
- its *speed-up* is random search's median budget to the target divided by the pairing's
  median budget to it, the factor the BOHB and DEHB papers give: random search reaches its own
  median final at the end of its budget in half of its runs, so its median budget to the target
  is the whole budget, and the speed-up is 1 / the median fraction;
- its *regret* is its final incumbent minus the problem's optimum (for digits, minus the best
  value any run found).

The table gives per pairing: how many seeds reached the target, the median fraction with its
quartiles, the speed-up, and the median final regret with its quartiles; each pairing's final
regrets are compared with random search's, and ours with the reference implementation of the
same algorithm (``REFERENCE_OF``), by a two-sided Mann–Whitney U test (p-values in the table).
The plot shows the median incumbent's regret against the budget, one line per pairing.

Reference implementations (:mod:`raytune_hpo.bench._references`): ``ray-bohb`` (plain Ray
Tune's BOHB), ``hpbandster-bohb`` (the original BOHB), ``dehb-package`` (the original DEHB) and
``optuna-plain`` (Optuna's own loop, TPE + Hyperband pruning); how each is charged is said there.

Each finished run is appended to ``runs.jsonl`` in the output folder, which a rerun with the
same folder reads back instead of running again.

Problems with several objectives (``branin_currin``, ``digits_size``: named with
``problem_names``, not run by default) are scored by hypervolume, higher is better: a run's
trajectory follows the hypervolume, against the problem's fixed reference point, of the Pareto
front of its feasible reports so far (every report counts, in the order made, as the incumbent
above), its regret is the gap to the problem's largest known hypervolume (for digits, the
largest any run found), and the target is the pool's median final hypervolume. Their default
pairings are ``MULTI_OBJECTIVE_PAIRINGS``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from raytune_hpo.bench._references import RAY_BOHB, REFERENCES, run_ray_bohb
from raytune_hpo.bench._scoring import (
    ANCHOR,
    REFERENCE_OF,
    TARGET_POOL,
    TARGET_RUNS,
    Row,
    Run,
    hypervolume_trajectory,
    mann_whitney,
    plot,
    pool_target,
    summarise,
    table,
    trajectory,
)
from raytune_hpo.bench.problems import MAX_T, Problem, problems
from raytune_hpo.errors import HPOError

BUDGET = 40 * MAX_T
# name: (searcher, scheduler), through hpo.run; None: a reference implementation.
PAIRINGS: dict[str, tuple[str, str] | None] = {
    "random": ("random", "fifo"),
    "random+asha": ("random", "asha"),
    "random+hyperband": ("random", "hyperband"),
    "tpe": ("tpe", "fifo"),
    "tpe+asha": ("tpe", "asha"),
    "tpe+hyperband": ("tpe", "hyperband"),
    "hyperopt": ("hyperopt", "fifo"),
    "hyperopt+asha": ("hyperopt", "asha"),
    "gp": ("gp", "fifo"),
    "cmaes": ("cmaes", "fifo"),
    "bohb": ("bohb", "bohb"),
    "dehb": ("dehb", "dehb"),
    RAY_BOHB: None,
    **{name: None for name in REFERENCES},
}
EXTRA_PAIRINGS: dict[str, tuple[str, str]] = {
    "evolution": ("evolution", "fifo"),
    "pso": ("pso", "fifo"),
    "random+sha": ("random", "sha"),
    "nsga2": ("nsga2", "fifo"),
    "nsga2+asha": ("nsga2", "asha"),
}
ALL_PAIRINGS = {**PAIRINGS, **EXTRA_PAIRINGS}
# The default on problems with several objectives.
MULTI_OBJECTIVE_PAIRINGS = ("random", "random+asha", "nsga2", "nsga2+asha")


class BenchError(HPOError):
    """A run whose record cannot be scored (it lost reports)."""


def stream(pairing: str, seed: int) -> int:
    """The seed a run of ``pairing`` with ``seed`` passes to its optimiser: drawn from both, so
    that no two pairings (nor the target's pool) share a random stream.

    >>> stream("random", 0) != stream("random+asha", 0) != stream("target-pool", 0)
    True
    """
    digest = hashlib.sha256(f"{pairing}/{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % 2**31


def run_pairing(
    problem: Problem,
    pairing: str,
    seed: int,
    budget: int,
    storage: str,
    cpus: float,
    name: str | None = None,
    **options: Any,
) -> Run:
    """One run of ``pairing`` on ``problem``, its optimiser given ``seed``, in ``storage/name``
    (by default ``problem-pairing-seed``); ``options`` go to :func:`hpo.run` (``space``,
    ``warm_start``). A run whose record holds fewer reports than ``budget`` is refused
    (:class:`BenchError`)."""
    start = time.perf_counter()
    name = name or f"{problem.name}-{pairing.replace('+', '_')}-{seed}"
    fresh = None
    if pairing == RAY_BOHB:
        record = run_ray_bohb(problem, seed, budget, storage, cpus)
        reports, trials = record.reports, record.trials
    elif pairing in REFERENCES:
        with warnings.catch_warnings():
            # hpbandster's model warns about every empty bandwidth, and pandas about its seeding.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", FutureWarning)
            record = REFERENCES[pairing](problem, seed, budget)
        reports, trials, fresh = record.reports, record.trials, record.fresh
    else:
        reports, trials = _run_ours(problem, pairing, seed, budget, storage, cpus, name, **options)
    if len(reports) < budget:
        raise BenchError(
            f"{problem.name} {pairing} seed {seed}: {len(reports)} reports recorded for a budget of {budget} "
            "iterations; the run lost reports and is not scored"
        )
    return Run(
        problem.name,
        pairing,
        seed,
        budget,
        trajectory(reports, budget, problem),
        trials,
        time.perf_counter() - start,
        hypervolume=problem.several,
        stream=seed,
        reports=len(reports),
        fresh=fresh,
    )


def _run_ours(
    problem: Problem, pairing: str, seed: int, budget: int, storage: str, cpus: float, name: str, **options: Any
):
    import raytune_hpo as hpo

    pair = ALL_PAIRINGS[ANCHOR if pairing == TARGET_POOL else pairing]
    assert pair is not None  # the reference implementations are run apart
    searcher, scheduler = pair
    results = hpo.run(
        problem.trainable,
        options.pop("space", problem.space),
        metric=list(problem.objectives) if problem.several else problem.objectives[0],
        mode=["min"] * len(problem.objectives) if problem.several else "min",
        searcher=searcher,
        scheduler=scheduler,
        max_t=MAX_T,
        seed=seed,
        resources={"cpu": cpus},
        # Without early stopping, as many full trials as the budget holds (the last one cut by
        # the budget); with it, as many trials as the budget allows.
        num_samples=math.ceil(budget / MAX_T) if scheduler == "fifo" else 100 * math.ceil(budget / MAX_T),
        iteration_budget=budget,
        storage=storage,
        name=name,
        verbose=0,
        **options,
    )
    run = [[r for r in t.history if "reported_at" in r] for t in results.trials]
    # Trials Ray created but never started (the budget ran out first) made no report.
    return [r for reports in run for r in reports], sum(1 for reports in run if reports)


# -- the benchmark -------------------------------------------------------------------------


def optimizers(
    seeds: Sequence[int],
    problem_names: Sequence[str] | None = None,
    pairings: Sequence[str] | None = None,
    budget: int = BUDGET,
    out: str = "bench-optimizers",
    target_runs: int = TARGET_RUNS,
) -> tuple[list[Row], str]:
    """Run every problem's random search target pool (``target_runs`` runs), then seed after
    seed every pairing on every problem; returns the rows and the table. ``problem_names`` default to those
    with one objective, ``pairings`` to ``PAIRINGS`` (``MULTI_OBJECTIVE_PAIRINGS`` on a problem
    with several); random search, the anchor, always runs. Runs already in ``out/runs.jsonl``
    are read back, not run again."""
    import ray

    from raytune_hpo._ray.session import init_ray

    suite = problems()
    problem_names = list(problem_names or [name for name, problem in suite.items() if not problem.several])
    chosen = {name: _pairings_for(suite[name], pairings) for name in problem_names}
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "runs.jsonl")
    runs = [r for r in _read_runs(log) if r.stream == stream(r.pairing, r.seed)]  # this scheme's runs only
    done = {(r.problem, r.pairing, r.seed, r.budget) for r in runs}
    if not ray.is_initialized():
        init_ray()
    cpus = max(1.0, ray.cluster_resources().get("CPU", 2) / 2)  # two trials at a time
    with tempfile.TemporaryDirectory(prefix="hpo-bench-optimizers-") as storage:
        # Every problem's pool first, then seed after seed: a benchmark stopped half-way has
        # every problem and pairing on its first seeds.
        pools = [(name, TARGET_POOL, k) for name in problem_names for k in range(target_runs)]
        pairs = [(name, pairing, seed) for seed in seeds for name in problem_names for pairing in chosen[name]]
        for name, pairing, seed in pools + pairs:
            if (name, pairing, seed, budget) in done:
                continue
            run = run_pairing(suite[name], pairing, stream(pairing, seed), budget, storage, cpus)
            run.seed = seed
            runs.append(run)
            with open(log, "a") as f:
                f.write(json.dumps(asdict(run)) + "\n")
            print(
                f"{name} {pairing} seed {seed}: final {run.final:.4g}, {run.trials} trials, {run.seconds:.0f} s",
                flush=True,
            )
    mine = [r for r in runs if r.problem in chosen and r.budget == budget]
    targets = {
        name: pool_target([r for r in mine if r.problem == name and r.pairing == TARGET_POOL and r.seed < target_runs])
        for name in problem_names
    }
    wanted = [r for r in mine if r.pairing in chosen[r.problem] and r.seed in seeds]
    optima = {name: suite[name].optimum for name in suite}
    rows = sorted(
        summarise(wanted, optima, targets),
        key=lambda row: (problem_names.index(row.problem), chosen[row.problem].index(row.pairing)),
    )
    text = table(rows, targets, target_runs)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text + "\n")
    plot(wanted, optima, os.path.join(out, "best_so_far.png"), targets)
    return rows, text


def _pairings_for(problem: Problem, pairings: Sequence[str] | None) -> list[str]:
    """The pairings run on ``problem``, the anchor first; on a problem with several objectives,
    one that cannot take them is refused in one line."""
    from raytune_hpo.errors import ConfigError

    names = list(pairings or (MULTI_OBJECTIVE_PAIRINGS if problem.several else PAIRINGS))
    if problem.several:
        for name in names:
            if not takes_several_objectives(name):
                able = [p for p in known_pairings() if takes_several_objectives(p)]
                raise ConfigError(
                    f"--pairings: {name!r} takes one objective and {problem.name} has {len(problem.objectives)}; "
                    f"on it use {', '.join(able)}"
                )
    return [ANCHOR] + [p for p in names if p != ANCHOR]


def takes_several_objectives(pairing: str) -> bool:
    """Whether both the pairing's searcher and its scheduler take several objectives here."""
    from raytune_hpo.schedulers._registry import REGISTRY as SCHEDULERS
    from raytune_hpo.searchers._registry import REGISTRY as SEARCHERS

    pair = ALL_PAIRINGS.get(pairing)
    if pair is None:  # a reference implementation: one metric
        return False
    searcher, scheduler = pair
    return (
        searcher in SEARCHERS
        and SEARCHERS[searcher].several_objectives
        and scheduler in SCHEDULERS
        and SCHEDULERS[scheduler].several_objectives
    )


def _read_runs(path: str) -> list[Run]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [
            Run(**{**row, "trajectory": [tuple(p) for p in row["trajectory"]]}) for row in map(json.loads, f) if row
        ]


def known_pairings() -> list[str]:
    return list(ALL_PAIRINGS)


def check_names(kind: str, names: Sequence[str] | None, known: Sequence[str]) -> Any:
    from raytune_hpo.errors import ConfigError

    for name in names or ():
        if name not in known:
            raise ConfigError(f"--{kind}: unknown {name!r}; choose from {', '.join(known)}")
    return names


__all__ = [
    "ANCHOR",
    "BUDGET",
    "PAIRINGS",
    "REFERENCE_OF",
    "TARGET_POOL",
    "TARGET_RUNS",
    "BenchError",
    "Row",
    "Run",
    "hypervolume_trajectory",
    "mann_whitney",
    "optimizers",
    "plot",
    "pool_target",
    "run_pairing",
    "stream",
    "summarise",
    "table",
    "trajectory",
]
