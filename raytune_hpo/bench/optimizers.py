"""``raytune-hpo bench optimizers``: searcher × scheduler pairings on the multi-fidelity
problems of :mod:`raytune_hpo.bench.problems`, budget counted in training iterations.

Every run gets the same budget (``budget`` iterations, by default 1,080 = 40 full trials of
27 iterations) and runs ``concurrency`` trials at a time. Its *trajectory* orders every
report of every trial by the time it was made (``reported_at``) and follows the incumbent: the
report with the lowest ``value`` so far, worth its ``true_value`` (the same number except on
noisy counting-ones). For each problem and seed:

- the *target* is random search's final incumbent (``random``, 40 trials run to the end, the
  same seed);
- a pairing's *fraction* is the budget it spent before its incumbent was as good as the
  target, divided by the budget (``never`` where it was not within the budget);
- its *regret* is its final incumbent minus the problem's optimum (for digits, minus the best
  value any run found).

The table gives the median fraction over seeds (with how many seeds reached the target) and the
median regret with its quartiles; the plot, the median incumbent's regret against the budget,
one line per pairing.

``ray-bohb`` is plain Ray Tune's own BOHB (``TuneBOHB`` +
``HyperBandForBOHB``, the way Ray's documentation sets it up, with ``reuse_actors=True``:
without it every pause and resume starts a new worker process, 10x the wall time for the same
decisions), run beside ours in the same process for comparison. Each finished run is appended to
``runs.jsonl`` in the output folder, which a rerun with the same folder reads back instead of
running again.

Problems with several objectives (``branin_currin``, ``digits_size``: named with
``problem_names``, not run by default) are scored by hypervolume, higher is better: a run's
trajectory follows the hypervolume, against the problem's fixed reference point, of the Pareto
front of its feasible reports so far (every report counts, in the order made, as the incumbent
above), and its regret is the gap to the problem's largest known hypervolume (for digits, the
largest any run found). Their *target* is not the same seed's random search: it is the median
final hypervolume of random search over seeds ``TARGET_SEEDS`` (100-109), a pool no pairing
uses. Random search of the same seed draws the same configurations as ``random+asha`` does
(promoted or not), so a target from it is reached by ``random+asha`` whenever the target's
own configuration is promoted to full fidelity, and a fraction against it is biased in favour
of the pairings that share its random stream; against an independent pool every pairing is
scored against the same number. Their default pairings are ``MULTI_OBJECTIVE_PAIRINGS``.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from raytune_hpo._objectives import Objectives, hypervolume, join_front
from raytune_hpo.bench.problems import MAX_T, Problem, problems

BUDGET = 40 * MAX_T
TARGET_SEEDS = range(100, 110)  # random search's runs that set the target of a problem with several objectives
_REGRET_FLOOR = 1e-4
ANCHOR = "random"
RAY_BOHB = "ray-bohb"  # plain Ray Tune's BOHB
# name: (searcher, scheduler), through hpo.run.
PAIRINGS: dict[str, tuple[str, str] | None] = {
    "random": ("random", "fifo"),
    "random+asha": ("random", "asha"),
    "random+hyperband": ("random", "hyperband"),
    "tpe": ("tpe", "fifo"),
    "tpe+asha": ("tpe", "asha"),
    "gp": ("gp", "fifo"),
    "cmaes": ("cmaes", "fifo"),
    "bohb": ("bohb", "bohb"),
    "dehb": ("dehb", "dehb"),
    RAY_BOHB: None,
}
EXTRA_PAIRINGS: dict[str, tuple[str, str]] = {
    "evolution": ("evolution", "fifo"),
    "pso": ("pso", "fifo"),
    "random+sha": ("random", "sha"),
    "tpe+hyperband": ("tpe", "hyperband"),
    "nsga2": ("nsga2", "fifo"),
    "nsga2+asha": ("nsga2", "asha"),
}
# The default on problems with several objectives.
MULTI_OBJECTIVE_PAIRINGS = ("random", "random+asha", "nsga2", "nsga2+asha")


@dataclass
class Run:
    problem: str
    pairing: str
    seed: int
    budget: int
    # (iterations spent, incumbent's true value) at each change; with several objectives, the
    # hypervolume so far at each increase.
    trajectory: list[tuple[int, float]]
    trials: int
    seconds: float
    hypervolume: bool = False  # the trajectory's values are hypervolumes: higher is better

    def incumbent_at(self, spent: int) -> float:
        """The incumbent's true value after ``spent`` iterations (inf before any report), or the
        hypervolume so far (0 before any report)."""
        value = 0.0 if self.hypervolume else math.inf
        for used, v in self.trajectory:
            if used > spent:
                break
            value = v
        return value

    @property
    def final(self) -> float:
        return self.incumbent_at(self.budget)

    def reached(self, target: float) -> int | None:
        """The iterations spent when the incumbent first was as good as ``target``."""
        for used, v in self.trajectory:
            if used > self.budget:
                break
            if (v >= target) if self.hypervolume else (v <= target):
                return used
        return None

    def regret(self, optimum: float, spent: int | None = None) -> float:
        """How far the incumbent after ``spent`` iterations (the final one by default) is from
        ``optimum``; with several objectives, the hypervolume's gap to it."""
        value = self.incumbent_at(self.budget if spent is None else spent)
        return optimum - value if self.hypervolume else value - optimum


def trajectory(reports: Sequence[dict], budget: int, problem: Problem | None = None) -> list[tuple[int, float]]:
    """The incumbent after each report, in the order the reports were made, up to ``budget``
    reports; one entry per change of incumbent. With several objectives (``problem``'s), the
    hypervolume of the front so far instead, one entry per increase."""
    ordered = sorted(reports, key=lambda r: r["reported_at"])[:budget]
    if problem is not None and problem.several:
        assert problem.reference is not None
        return hypervolume_trajectory(
            ordered, Objectives.of(list(problem.objectives), ["min"] * len(problem.objectives)), problem.reference
        )
    best_value, points = math.inf, []
    for used, report in enumerate(ordered, start=1):
        if report["value"] < best_value:
            best_value = report["value"]
            points.append((used, float(report["true_value"])))
    return points


def hypervolume_trajectory(
    reports: Sequence[dict], objectives: Objectives, reference: Sequence[float]
) -> list[tuple[int, float]]:
    """(reports seen, hypervolume) at each report that made the hypervolume of the Pareto front
    of the feasible reports so far larger, ``reports`` taken in the order given."""
    front: dict[int, tuple[float, ...]] = {}
    volume, points = 0.0, []
    for used, report in enumerate(reports, start=1):
        values = objectives.values(report)
        if values is None or objectives.violation(report) > 0 or not join_front(front, used, values):
            continue
        now = hypervolume(list(front.values()), reference)
        if now > volume:
            volume = now
            points.append((used, now))
    return points


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
    """One run of ``pairing`` on ``problem``, in ``storage/name`` (by default
    ``problem-pairing-seed``); ``options`` go to :func:`hpo.run` (``space``, ``warm_start``)."""
    start = time.perf_counter()
    name = name or f"{problem.name}-{pairing.replace('+', '_')}-{seed}"
    if pairing == RAY_BOHB:
        reports, trials = _run_ray_bohb(problem, seed, budget, storage, cpus)
    else:
        reports, trials = _run_ours(problem, pairing, seed, budget, storage, cpus, name, **options)
    return Run(
        problem.name,
        pairing,
        seed,
        budget,
        trajectory(reports, budget, problem),
        trials,
        time.perf_counter() - start,
        hypervolume=problem.several,
    )


def _run_ours(
    problem: Problem, pairing: str, seed: int, budget: int, storage: str, cpus: float, name: str, **options: Any
):
    import raytune_hpo as hpo

    pair = {**PAIRINGS, **EXTRA_PAIRINGS}[pairing]
    assert pair is not None  # only RAY_BOHB maps to None, and run_pairing runs it apart
    searcher, scheduler = pair
    full_trials = budget // MAX_T
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
        # Without early stopping, the budget is exactly that many full trials; with it, as
        # many trials as the budget allows.
        num_samples=full_trials if scheduler == "fifo" else 100 * full_trials,
        iteration_budget=budget,
        storage=storage,
        name=name,
        verbose=0,
        **options,
    )
    return [r for t in results.trials for r in t.history if "reported_at" in r], len(results.trials)


def _run_ray_bohb(problem: Problem, seed: int, budget: int, storage: str, cpus: float):
    from ray import tune
    from ray.tune.schedulers import HyperBandForBOHB
    from ray.tune.search.bohb import TuneBOHB

    from raytune_hpo._budget import IterationBudget
    from raytune_hpo._ray.controller import fit
    from raytune_hpo.directory import read_results
    from raytune_hpo.searchers._bohb import to_configspace
    from raytune_hpo.space import Space

    searcher = TuneBOHB(space=to_configspace(Space(problem.space), seed=seed), seed=seed, metric="value", mode="min")
    scheduler = HyperBandForBOHB(
        time_attr="training_iteration", max_t=MAX_T, reduction_factor=3, metric="value", mode="min"
    )
    # Its ResultGrid warns about every trial the budget left unstarted.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    name = f"{problem.name}-ray-bohb-{seed}"
    fit(
        tune.Tuner(
            tune.with_resources(_completed(problem.trainable, Space(problem.space)), {"cpu": cpus}),
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=100 * (budget // MAX_T), reuse_actors=True
            ),
            run_config=tune.RunConfig(name=name, storage_path=storage, stop=IterationBudget(budget), verbose=0),
        )
    )
    # Each started trial's result.json (Ray's own JSON log: a report per line, as ours).
    trial_dirs = [d for d in glob.glob(os.path.join(storage, name, "*")) if os.path.isdir(d)]
    reports = [r for d in trial_dirs for r in read_results(d) if "reported_at" in r]
    return reports, len(trial_dirs)


def _completed(trainable, space):
    """``trainable`` on the configuration a ConfigSpace suggestion stands for (choices come
    as indices, constants are not in it)."""

    def trial(config: dict) -> None:
        trainable(space.complete(config))

    trial.__name__ = trainable.__name__
    return trial


# -- summary -------------------------------------------------------------------------------


@dataclass
class Row:
    problem: str
    pairing: str
    fractions: list[float | None]  # per seed; None: never reached the target
    regrets: list[float]
    hypervolume: bool = False  # several objectives: regret is the hypervolume's gap

    @property
    def median_fraction(self) -> float:
        """The median over seeds, a seed that never reached the target counting as infinite."""
        return float(np.median([math.inf if f is None else f for f in self.fractions]))

    @property
    def reached(self) -> int:
        return sum(f is not None for f in self.fractions)


def summarise(
    runs: Sequence[Run], optima: dict[str, float | None], targets: Mapping[str, float] | None = None
) -> list[Row]:
    """One row per (problem, pairing): the fractions against the problem's target where
    ``targets`` has one (the same for every seed), else against the anchor of the same seed,
    and the final regrets. Runs with neither are left out."""
    targets = targets or {}
    anchors = {(r.problem, r.seed): r.final for r in runs if r.pairing == ANCHOR}
    optimum = {problem: _optimum(runs, problem, optima) for problem in {r.problem for r in runs}}
    rows: dict[tuple[str, str], Row] = {}
    for r in runs:
        target = targets.get(r.problem, anchors.get((r.problem, r.seed)))
        if target is None:
            continue
        row = rows.setdefault((r.problem, r.pairing), Row(r.problem, r.pairing, [], [], r.hypervolume))
        used = r.reached(target)
        row.fractions.append(None if used is None else used / r.budget)
        row.regrets.append(r.regret(optimum[r.problem]))
    return list(rows.values())


def pool_target(pool: Sequence[Run]) -> float:
    """The target set by an independent pool of random search's runs: their median final."""
    return float(np.median([r.final for r in pool]))


def _optimum(runs: Sequence[Run], problem: str, optima: dict[str, float | None]) -> float:
    """The problem's optimum, or where it is unknown the best final incumbent of any run (the
    largest final hypervolume)."""
    known = optima.get(problem)
    if known is not None:
        return known
    mine = [r for r in runs if r.problem == problem]
    return (max if mine[0].hypervolume else min)(r.final for r in mine)


def table(rows: Sequence[Row], targets: Mapping[str, float] | None = None) -> str:
    several = any(row.hypervolume for row in rows)
    regret = "final regret (hypervolume gap where several objectives)" if several else "final regret"
    lines = [
        "| problem | pairing | fraction of random search's budget (median) | reached | "
        f"{regret}, median [25 %, 75 %] |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        fraction = row.median_fraction
        shown = "never" if math.isinf(fraction) else f"{fraction:.3f}"
        q25, q50, q75 = np.percentile(row.regrets, [25, 50, 75])
        lines.append(
            f"| {row.problem} | {row.pairing} | {shown} | {row.reached}/{len(row.fractions)} | "
            f"{q50:.3g} [{q25:.3g}, {q75:.3g}] |"
        )
    shown_targets = {row.problem: targets[row.problem] for row in rows if targets and row.problem in targets}
    if shown_targets:
        lines.append("")
        lines.extend(
            f"Target on {problem}: hypervolume {value:.6g}, random search's median final hypervolume "
            f"over seeds {TARGET_SEEDS.start}-{TARGET_SEEDS.stop - 1}, which no pairing uses."
            for problem, value in shown_targets.items()
        )
    return "\n".join(lines)


def plot(
    runs: Sequence[Run], optima: dict[str, float | None], path: str, targets: Mapping[str, float] | None = None
) -> None:
    """Median regret of the incumbent against the budget spent, one panel per problem; with
    several objectives, the median hypervolume so far, with the target and the largest known
    as dotted lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r.problem for r in runs))
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for axis, name in zip(axes[0], names):
        mine = [r for r in runs if r.problem == name]
        several = mine[0].hypervolume
        optimum = _optimum(runs, name, optima)
        budget = max(r.budget for r in mine)
        steps = np.unique(np.geomspace(1, budget, 200).astype(int))
        for pairing in dict.fromkeys(r.pairing for r in mine):
            curves = [
                [r.incumbent_at(int(s)) if several else r.regret(optimum, int(s)) for s in steps]
                for r in mine
                if r.pairing == pairing
            ]
            median = np.median(np.array(curves), axis=0)
            axis.plot(
                steps,
                # Regret 0 (the best any run found, where the optimum is unknown) drawn at the floor.
                median if several else np.maximum(median, _REGRET_FLOOR),
                label=pairing,
                linewidth=2.5 if pairing == ANCHOR else 1.5,
            )
        axis.set_xscale("log")
        if several:
            if targets and name in targets:
                axis.axhline(targets[name], color="grey", linestyle=":", label="target")
            if optima.get(name) is not None:
                axis.axhline(optimum, color="black", linestyle=":", label="largest known")
            axis.set_ylabel("hypervolume of the front so far (median over seeds)")
        else:
            axis.set_yscale("log")
            axis.set_ylabel("regret of the incumbent (median over seeds)")
        axis.set_title(name)
        axis.set_xlabel("budget spent (training iterations)")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- the benchmark -------------------------------------------------------------------------


def optimizers(
    seeds: Sequence[int],
    problem_names: Sequence[str] | None = None,
    pairings: Sequence[str] | None = None,
    budget: int = BUDGET,
    out: str = "bench-optimizers",
    target_seeds: Sequence[int] = TARGET_SEEDS,
) -> tuple[list[Row], str]:
    """Run every pairing on every problem for every seed (the anchor first; on a problem with
    several objectives, random search's target pool ``target_seeds`` before them); returns the
    rows and the table. ``problem_names`` default to those with one objective, ``pairings`` to
    ``PAIRINGS`` (``MULTI_OBJECTIVE_PAIRINGS`` on a problem with several). Runs already in
    ``out/runs.jsonl`` are read back, not run again."""
    import ray

    from raytune_hpo._ray.session import init_ray

    suite = problems()
    problem_names = list(problem_names or [name for name, problem in suite.items() if not problem.several])
    chosen = {name: _pairings_for(suite[name], pairings, seeds, target_seeds) for name in problem_names}
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "runs.jsonl")
    runs = _read_runs(log)
    done = {(r.problem, r.pairing, r.seed, r.budget) for r in runs}
    if not ray.is_initialized():
        init_ray()
    cpus = max(1.0, ray.cluster_resources().get("CPU", 2) / 2)  # two trials at a time
    with tempfile.TemporaryDirectory(prefix="hpo-bench-optimizers-") as storage:
        for name in problem_names:
            pool = [(ANCHOR, seed) for seed in target_seeds] if suite[name].several else []
            for pairing, seed in pool + [(pairing, seed) for seed in seeds for pairing in chosen[name]]:
                if (name, pairing, seed, budget) in done:
                    continue
                run = run_pairing(suite[name], pairing, seed, budget, storage, cpus)
                runs.append(run)
                with open(log, "a") as f:
                    f.write(json.dumps(asdict(run)) + "\n")
                print(
                    f"{name} {pairing} seed {seed}: final {run.final:.4g}, {run.trials} trials, {run.seconds:.0f} s",
                    flush=True,
                )
    mine = [r for r in runs if r.problem in chosen and r.budget == budget]
    wanted = [r for r in mine if r.pairing in chosen[r.problem] and r.seed in seeds]
    targets = {
        name: pool_target([r for r in mine if r.problem == name and r.pairing == ANCHOR and r.seed in target_seeds])
        for name in problem_names
        if suite[name].several
    }
    optima = {name: suite[name].optimum for name in suite}
    rows = sorted(
        summarise(wanted, optima, targets),
        key=lambda row: (problem_names.index(row.problem), chosen[row.problem].index(row.pairing)),
    )
    text = table(rows, targets)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text + "\n")
    plot(wanted, optima, os.path.join(out, "best_so_far.png"), targets)
    return rows, text


def _pairings_for(
    problem: Problem, pairings: Sequence[str] | None, seeds: Sequence[int], target_seeds: Sequence[int]
) -> list[str]:
    """The pairings run on ``problem``, the anchor first; on a problem with several objectives,
    one that cannot take them, or a seed of the target's pool, is refused in one line."""
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
        shared = sorted(set(seeds) & set(target_seeds))
        if shared:
            raise ConfigError(
                f"--seeds: seed {shared[0]} is one of random search's target pool on {problem.name} "
                f"({min(target_seeds)}-{max(target_seeds)}); choose seeds outside it"
            )
    return [ANCHOR] + [p for p in names if p != ANCHOR]


def takes_several_objectives(pairing: str) -> bool:
    """Whether both the pairing's searcher and its scheduler take several objectives here."""
    from raytune_hpo.schedulers._registry import REGISTRY as SCHEDULERS
    from raytune_hpo.searchers._registry import REGISTRY as SEARCHERS

    pair = {**PAIRINGS, **EXTRA_PAIRINGS}.get(pairing)
    if pair is None:  # plain Ray Tune's BOHB, one metric
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
    return list(PAIRINGS) + list(EXTRA_PAIRINGS)


def check_names(kind: str, names: Sequence[str] | None, known: Sequence[str]) -> Any:
    from raytune_hpo.errors import ConfigError

    for name in names or ():
        if name not in known:
            raise ConfigError(f"--{kind}: unknown {name!r}; choose from {', '.join(known)}")
    return names
