"""The optimiser benchmark's scores: a run's trajectory (its incumbent, or the hypervolume of
its front, against the budget spent), each pairing's fractions of the budget to reach the
problem's target, speed-up and final regrets, their Mann–Whitney tests, the table and the plot.
The definitions are in :mod:`raytune_hpo.bench.optimizers`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from raytune_hpo._objectives import Objectives, hypervolume, join_front
from raytune_hpo.bench._references import RAY_BOHB, REFERENCES
from raytune_hpo.bench.problems import Problem

ANCHOR = "random"  # random search: each pairing's p-value against it
TARGET_POOL = "target-pool"  # random search's runs that set every problem's target
TARGET_RUNS = 20
# Ours, and the reference implementation of the same algorithm it is tested against.
REFERENCE_OF = {
    "bohb": "hpbandster-bohb",
    RAY_BOHB: "hpbandster-bohb",
    "dehb": "dehb-package",
    "tpe+asha": "optuna-plain",
    "tpe+hyperband": "optuna-plain",
    "hyperopt+asha": "optuna-plain",
}
_REGRET_FLOOR = 1e-4


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
        return float(np.median(self.fractions_or_inf))

    @property
    def fractions_or_inf(self) -> list[float]:
        """The fractions, a seed that never reached the target as infinity."""
        return [math.inf if f is None else f for f in self.fractions]

    @property
    def speed_up(self) -> float:
        """Random search's median budget to the target (the whole budget: the target is its
        median final) divided by the pairing's; 0 where the median seed never reached it."""
        return 1 / self.median_fraction

    @property
    def reached(self) -> int:
        return sum(f is not None for f in self.fractions)

    def within(self, fraction: float) -> int:
        """The seeds that reached the target within ``fraction`` of the budget."""
        return sum(f is not None and f <= fraction for f in self.fractions)


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
        shown = _quartiles(row.fractions_or_inf, "{:.3f}")
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
