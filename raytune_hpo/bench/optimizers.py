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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from raytune_hpo._objectives import Objectives, hypervolume, join_front
from raytune_hpo.bench._references import RAY_BOHB, REFERENCES, run_ray_bohb
from raytune_hpo.bench.problems import MAX_T, Problem, problems
from raytune_hpo.errors import HPOError

BUDGET = 40 * MAX_T
TARGET_POOL = "target-pool"  # random search's runs that set every problem's target
TARGET_RUNS = 20
_REGRET_FLOOR = 1e-4
ANCHOR = "random"
# name: (searcher, scheduler), through hpo.run; None: a reference implementation.
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
    "optuna+asha": ("optuna", "asha"),
    "optuna+hyperband": ("optuna", "hyperband"),
    RAY_BOHB: None,
    **{name: None for name in REFERENCES},
}
EXTRA_PAIRINGS: dict[str, tuple[str, str]] = {
    "evolution": ("evolution", "fifo"),
    "pso": ("pso", "fifo"),
    "optuna": ("optuna", "fifo"),
    "random+sha": ("random", "sha"),
    "tpe+hyperband": ("tpe", "hyperband"),
    "nsga2": ("nsga2", "fifo"),
    "nsga2+asha": ("nsga2", "asha"),
}
# Ours, and the reference implementation of the same algorithm it is tested against.
REFERENCE_OF = {
    "bohb": "hpbandster-bohb",
    RAY_BOHB: "hpbandster-bohb",
    "dehb": "dehb-package",
    "tpe+asha": "optuna-plain",
    "tpe+hyperband": "optuna-plain",
    "optuna+asha": "optuna-plain",
    "optuna+hyperband": "optuna-plain",
}
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


@dataclass
class Run:
    problem: str
    pairing: str
    seed: int
    budget: int
    # (iterations spent, incumbent's true value) at each change; with several objectives, the
    # hypervolume so far at each increase.
    trajectory: list[tuple[int, float]]
    trials: int  # trials (configurations) that reported at least once
    seconds: float
    hypervolume: bool = False  # the trajectory's values are hypervolumes: higher is better
    stream: int | None = None  # the seed its optimiser was given; None: recorded before streams
    reports: int | None = None  # the reports its record holds (at least the budget)
    # What it would have been charged had every evaluation started afresh (a promoted
    # configuration charged its whole budget again), where that differs: reference runs.
    fresh: int | None = None

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

    pair = {**PAIRINGS, **EXTRA_PAIRINGS, TARGET_POOL: PAIRINGS[ANCHOR]}[pairing]
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


# -- summary -------------------------------------------------------------------------------


@dataclass
class Row:
    problem: str
    pairing: str
    fractions: list[float | None]  # per seed; None: never reached the target
    regrets: list[float]
    hypervolume: bool = False  # several objectives: regret is the hypervolume's gap
    p_random: float | None = None  # Mann–Whitney p of its final regrets against random search's
    reference: str | None = None  # the reference implementation of the same algorithm, where run
    p_reference: float | None = None  # ... and the p-value against it

    @property
    def median_fraction(self) -> float:
        """The median over seeds, a seed that never reached the target counting as infinite."""
        return float(np.median([math.inf if f is None else f for f in self.fractions]))

    @property
    def speed_up(self) -> float:
        """Random search's median budget to the target (the whole budget: the target is its
        median final) divided by the pairing's; 0 where the median seed never reached it."""
        return 1 / self.median_fraction

    @property
    def reached(self) -> int:
        return sum(f is not None for f in self.fractions)


def summarise(runs: Sequence[Run], optima: dict[str, float | None], targets: Mapping[str, float]) -> list[Row]:
    """One row per (problem, pairing) of ``runs`` on a problem with a target: the fractions
    against it and the final regrets, each pairing's regrets tested against random search's
    and ours against the reference of the same algorithm (``REFERENCE_OF``) where both ran."""
    optimum = {problem: _optimum(runs, problem, optima) for problem in {r.problem for r in runs}}
    rows: dict[tuple[str, str], Row] = {}
    for r in runs:
        if r.problem not in targets:
            continue
        row = rows.setdefault((r.problem, r.pairing), Row(r.problem, r.pairing, [], [], r.hypervolume))
        used = r.reached(targets[r.problem])
        row.fractions.append(None if used is None else used / r.budget)
        row.regrets.append(r.regret(optimum[r.problem]))
    for (problem, pairing), row in rows.items():
        anchor = rows.get((problem, ANCHOR))
        if anchor is not None and pairing != ANCHOR:
            row.p_random = mann_whitney(row.regrets, anchor.regrets)
        reference = rows.get((problem, REFERENCE_OF.get(pairing, "")))
        if reference is not None:
            row.reference, row.p_reference = reference.pairing, mann_whitney(row.regrets, reference.regrets)
    return list(rows.values())


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sided p-value of the Mann–Whitney U test that ``a`` and ``b`` come from the same
    distribution (exact for small samples without ties, SciPy's choice); 1 where every value is
    the same.

    >>> round(mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]), 4)
    0.0079
    """
    from scipy.stats import mannwhitneyu

    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


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


def _quartiles(values: Sequence[float], shown: str = "{:.3g}") -> str:
    """``median [25 %, 75 %]``, NumPy's linear interpolation; a quartile that falls on or next
    to an infinite value (a seed that never reached the target) is ``never``."""
    finite = [v for v in values if math.isfinite(v)]
    # inf stands above every finite value: interpolated with it, a quartile is above them too.
    beyond = 2 * max(map(abs, finite), default=1.0) + 1
    quartiles = np.percentile([v if math.isfinite(v) else beyond for v in values], [50, 25, 75])
    q50, q25, q75 = ("never" if q > max(finite, default=-math.inf) else shown.format(q) for q in quartiles)
    return f"{q50} [{q25}, {q75}]"


def _p(value: float | None) -> str:
    if value is None:
        return ""
    return "< 0.001" if value < 0.001 else f"{value:.3f}" if value < 0.01 else f"{value:.2f}"


def table(rows: Sequence[Row], targets: Mapping[str, float], pool: int = TARGET_RUNS) -> str:
    several = any(row.hypervolume for row in rows)
    regret = "final regret (hypervolume gap where several objectives)" if several else "final regret"
    lines = [
        "| problem | pairing | reached the target | fraction of the budget to reach it, median [25 %, 75 %] "
        f"| speed-up over random search | {regret}, median [25 %, 75 %] | p vs random | p vs reference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        shown = _quartiles([math.inf if f is None else f for f in row.fractions], "{:.3f}")
        speed_up = f"{row.speed_up:.1f}x" if row.speed_up > 0 else "< 1x"
        versus = f"{_p(row.p_reference)} ({row.reference})" if row.reference else ""
        lines.append(
            f"| {row.problem} | {row.pairing} | {row.reached}/{len(row.fractions)} | {shown} | {speed_up} | "
            f"{_quartiles(row.regrets)} | {_p(row.p_random)} | {versus} |"
        )
    lines.append("")
    for problem in dict.fromkeys(row.problem for row in rows):
        what = "hypervolume" if any(r.hypervolume for r in rows if r.problem == problem) else "incumbent"
        lines.append(
            f"Target on {problem}: {targets[problem]:.6g}, random search's median final {what} over "
            f"{pool} runs of its own (pool '{TARGET_POOL}'), whose seeds no pairing uses."
        )
    lines.append(
        "p: two-sided Mann–Whitney U test on the final regrets, against random search's and against the "
        "reference implementation of the same algorithm."
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
                linestyle="--" if pairing in REFERENCES or pairing == RAY_BOHB else "-",
            )
        axis.set_xscale("log")
        if several:
            if targets and name in targets:
                axis.axhline(targets[name], color="grey", linestyle=":", label="target")
            if optima.get(name) is not None:
                axis.axhline(optimum, color="black", linestyle=":", label="largest known")
            axis.set_ylabel("hypervolume of the front so far (median over seeds)")
        else:
            if targets and name in targets:
                axis.axhline(targets[name] - optimum, color="grey", linestyle=":", label="target")
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

    pair = {**PAIRINGS, **EXTRA_PAIRINGS}.get(pairing)
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
    return list(PAIRINGS) + list(EXTRA_PAIRINGS)


def check_names(kind: str, names: Sequence[str] | None, known: Sequence[str]) -> Any:
    from raytune_hpo.errors import ConfigError

    for name in names or ():
        if name not in known:
            raise ConfigError(f"--{kind}: unknown {name!r}; choose from {', '.join(known)}")
    return names
