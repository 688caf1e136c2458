"""The report's plots, drawn on matplotlib's Agg canvas into PNG bytes.

Figures are made with ``matplotlib.figure.Figure``, not pyplot: no display is needed, and the
user's own pyplot state (backend, open figures) is left alone when a run ends with a report.
Trials are coloured by their best value of the metric, the best brightest, in every plot but the
Pareto plot of several objectives (front, feasible, infeasible: ``_pareto``).
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from typing import Any

from raytune_hpo._library import require
from raytune_hpo._objectives import Objectives
from raytune_hpo._options import is_number
from raytune_hpo.results import Results, Trial
from raytune_hpo.tracking._best_so_far import BestSoFar
from raytune_hpo.tracking._importance import Importance
from raytune_hpo.tracking._parameters import LOG_SPAN, Parameter
from raytune_hpo.tracking._pareto import FEASIBLE, FRONT, INFEASIBLE, KINDS, Placed, units

DPI = 100
LABEL_CHARS = 24  # longer category labels are cut: they would cover the neighbouring axis
PARETO_COLUMNS = 3  # panels per row of the Pareto plot
_KIND_LABELS = {FRONT: "on the Pareto front", FEASIBLE: "feasible, dominated", INFEASIBLE: "infeasible"}
_KIND_STYLES: dict[str, dict[str, Any]] = {  # the infeasible grey, under the others
    FRONT: {"s": 42, "c": "tab:red", "edgecolors": "black", "linewidths": 0.8, "zorder": 3},
    FEASIBLE: {"s": 20, "c": "tab:blue", "alpha": 0.7, "zorder": 2},
    INFEASIBLE: {"s": 16, "c": "lightgrey", "edgecolors": "grey", "linewidths": 0.5, "zorder": 1},
}


def best_so_far_figure(traces: Sequence[tuple[str | None, BestSoFar]], metric: str, mode: str) -> bytes:
    """Best so far against cumulative iterations and against wall time; one line per trace,
    named in a legend where there are several (a comparison)."""
    return _so_far_figure(traces, f"best {metric} so far ({mode})")


def hypervolume_figure(traces: Sequence[tuple[str | None, BestSoFar]]) -> bytes:
    """The hypervolume of the front so far, drawn as the best so far is."""
    return _so_far_figure(traces, "hypervolume of the front so far")


def _so_far_figure(traces: Sequence[tuple[str | None, BestSoFar]], ylabel: str) -> bytes:
    fig = _figure(10, 3.8)
    by_iterations, by_time = fig.subplots(1, 2, sharey=True)
    for name, trace in traces:
        by_iterations.step(trace.iterations, trace.values, where="post", label=name)
        by_time.step(trace.seconds, trace.values, where="post", label=name)
    by_iterations.set_xlabel("training iterations, all trials together")
    by_time.set_xlabel("wall time since the first trial started (s)")
    by_iterations.set_ylabel(ylabel)
    _scale(by_iterations, [v for _, trace in traces for v in trace.values])
    if len(traces) > 1:
        by_time.legend(fontsize="small")
    for ax in (by_iterations, by_time):
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    return _png(fig)


def pareto_figure(objectives: Objectives, placed: Sequence[Placed], reference: Sequence[float] | None) -> bytes:
    """One panel per pair of objectives: the front's trials highlighted, the other feasible
    trials plain, the infeasible ones grey. With two objectives, the front's staircase joins
    its trials and closes on the reference point, around the volume it dominates."""
    return _png(draw_pareto(objectives, placed, reference))


def draw_pareto(objectives: Objectives, placed: Sequence[Placed], reference: Sequence[float] | None):
    """The figure of :func:`pareto_figure`, not yet drawn to PNG (its axes hold what it shows)."""
    pairs = list(itertools.combinations(range(len(objectives.metrics)), 2))
    columns = min(len(pairs), PARETO_COLUMNS)
    rows = math.ceil(len(pairs) / columns)
    fig = _figure(1.5 + 4.2 * columns, 0.5 + 3.8 * rows)
    panels = list(fig.subplots(rows, columns, squeeze=False).flat)
    counts = {kind: sum(p.kind == kind for p in placed) for kind in KINDS}
    for ax, (i, j) in zip(panels, pairs):
        for kind in KINDS:  # in the legend's order; the zorders put the front on top
            chosen = [p.values for p in placed if p.kind == kind]
            if chosen:
                ax.scatter(
                    [v[i] for v in chosen],
                    [v[j] for v in chosen],
                    label=f"{_KIND_LABELS[kind]} ({counts[kind]})",
                    **_KIND_STYLES[kind],
                )
        drawn = [p.values for p in placed]
        if len(pairs) == 1:
            _staircase(ax, objectives, [p.values for p in placed if p.kind == FRONT], reference)
            drawn += [tuple(reference)] if reference is not None else []  # a log axis must hold it too
        ax.set_xlabel(f"{objectives.metrics[i]} ({objectives.modes[i]})")
        ax.set_ylabel(f"{objectives.metrics[j]} ({objectives.modes[j]})")
        if _is_log([v[i] for v in drawn]):
            ax.set_xscale("log")
        _scale(ax, [v[j] for v in drawn])
        ax.grid(alpha=0.3)
    for ax in panels[len(pairs) :]:  # the rest of the last row
        ax.set_visible(False)
    panels[0].legend(fontsize="small", loc="best")
    return fig


def _staircase(ax, objectives: Objectives, front: list[tuple[float, ...]], reference: Sequence[float] | None) -> None:
    """The front of two objectives as its attainment staircase, closed on the reference point
    (drawn with a +) around the shaded volume it dominates."""
    if not front:
        return
    ordered = sorted(units(objectives, v) for v in front)  # minimisation form, by the first objective
    corners = [ordered[0]]
    for (_, y), (x, next_y) in zip(ordered, ordered[1:]):
        corners += [(x, y), (x, next_y)]
    if reference is None:
        line = corners
    else:
        ref = units(objectives, reference)
        line = [(corners[0][0], ref[1]), *corners, (ref[0], corners[-1][1])]
        shaded = [units(objectives, c) for c in [*line, ref]]
        ax.fill([c[0] for c in shaded], [c[1] for c in shaded], color="tab:red", alpha=0.08, lw=0, label="hypervolume")
        ax.plot(*reference, marker="+", ms=12, mew=2, color="black", ls="none", label="reference point")
    drawn = [units(objectives, c) for c in line]
    ax.plot(
        [c[0] for c in drawn], [c[1] for c in drawn], color="tab:red", lw=1.2, zorder=2, label="the front's staircase"
    )


def learning_curves_figure(results: Results, stopped: set[str]) -> bytes:
    """The metric of every trial against its training iteration. A trial the scheduler
    stopped ends with an x, one that failed with a red circle; a trial restarted from another
    trial's checkpoint (PBT) is drawn in segments. (All lines are one matplotlib collection,
    all x's another: thousands of trials draw in a second.)"""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    metric = results.objectives.primary
    fig = _figure(9, 4.5)
    ax = fig.subplots()
    colour = _colours(fig, ax, [_best(t, results) for t in results.trials], metric, results.objectives.primary_mode)
    lines: list[list[tuple[Any, Any]]] = []  # (iteration, value) points, as the reports have them
    line_colours, crosses, cross_colours, circles = [], [], [], []
    for t in results.trials:
        reports = [r for r in t.history if is_number(r.get(metric))]
        if not reports:
            continue
        c = colour(_best(t, results))
        for segment in _segments(reports):
            lines.append([(r.get("training_iteration"), r[metric]) for r in segment])
            line_colours.append(c)
        end = (reports[-1].get("training_iteration"), reports[-1][metric])
        if t.trial_id in stopped:
            crosses.append(end)
            cross_colours.append(c)
        elif t.status == "ERROR":
            circles.append(end)
    ax.add_collection(LineCollection(lines, colors=line_colours, linewidths=1.2, alpha=0.85))
    single = [(line[0], c) for line, c in zip(lines, line_colours) if len(line) == 1]  # no line: a dot
    if single:
        ax.scatter(*zip(*(point for point, _ in single)), s=9, c=[c for _, c in single], alpha=0.85)
    ax.autoscale()
    if crosses:
        ax.scatter(*zip(*crosses), marker="x", s=64, linewidths=2, c=cross_colours)
    if circles:
        ax.scatter(*zip(*circles), marker="o", s=64, facecolors="none", edgecolors="red", linewidths=1.5)
    errored = len(circles)
    ax.set_xlabel("training iteration")
    ax.set_ylabel(metric)
    _scale(ax, [r.get(metric) for t in results.trials for r in t.history])
    ax.grid(alpha=0.3)
    legend = [Line2D([], [], color="grey", lw=1.2, label="a trial (colour: its best value)")]
    if stopped:
        legend.append(
            Line2D(
                [],
                [],
                color="grey",
                marker="x",
                ms=8,
                mew=2,
                ls="none",
                label=f"stopped early by the scheduler ({len(stopped)})",
            )
        )
    if errored:
        legend.append(
            Line2D([], [], marker="o", ms=8, mfc="none", mec="red", ls="none", label=f"ended with an error ({errored})")
        )
    ax.legend(handles=legend, fontsize="small", loc="best")
    return _png(fig)


def parallel_coordinates_figure(
    params: list[Parameter], objective: list[float], metric: str, mode: str, which: str = "best"
) -> bytes:
    """One vertical axis per parameter, then the metric (each trial's ``which`` value of it:
    best, or last with several objectives); one line per trial (one matplotlib collection).
    Numbers run from their least (bottom) to their greatest (top), categories are evenly
    spaced."""
    from matplotlib.collections import LineCollection

    fig = _figure(max(6.0, 1.6 * (len(params) + 1)), 4.5)
    ax = fig.subplots()
    colour = _colours(fig, ax, objective, metric, mode, which)
    metric_axis = Parameter(metric, tuple(objective), None, False, _is_log(objective))
    axes = params + [metric_axis]
    columns = [_normalised(p) for p in axes]
    rows = [i for i, v in enumerate(objective) if math.isfinite(v)]
    # The best last, on top of the others.
    rows.sort(key=lambda i: objective[i], reverse=mode == "min")
    ax.add_collection(
        LineCollection(
            [list(enumerate(column[i] for column in columns)) for i in rows],
            colors=[colour(objective[i]) for i in rows],
            linewidths=1.2,
            alpha=0.8,
        )
    )
    for x, p in enumerate(axes):
        ax.axvline(x, color="black", lw=0.8)
        for y, text in _ticks(p):
            ax.text(
                x + 0.03,
                y,
                text,
                fontsize="x-small",
                va="center",
                ha="left",
                bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1},
            )
    ax.set_xticks(
        range(len(axes)), [p.name + (" (log)" if p.log else "") for p in axes], rotation=20 if len(axes) > 5 else 0
    )
    ax.set_xlim(-0.1, len(axes) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    return _png(fig)


def importance_figure(result: Importance) -> bytes:
    fig = _figure(7, 0.5 + 0.4 * len(result.scores))
    ax = fig.subplots()
    names = list(result.scores)[::-1]  # the largest at the top
    ax.barh(names, [result.scores[n] for n in names], color="tab:blue")
    ax.set_xlabel(f"importance: {result.method}")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _figure(width: float, height: float):
    require("matplotlib", "report", "the report")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _best(trial: Trial, results: Results) -> float:
    report = trial.best_report(results.objectives.primary, results.objectives.primary_mode)
    return report[results.objectives.primary] if report else math.nan


def _colours(fig, ax, values: Sequence[float], metric: str, mode: str, which: str = "best"):
    """A colour for each value of the metric, the best brightest, with its colour bar."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    norm = (LogNorm if _is_log(finite) else Normalize)(low, high if high > low else low + 1)
    cmap = colormaps["viridis" if mode == "max" else "viridis_r"]
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=f"{which} {metric}")
    return lambda v: cmap(norm(v)) if math.isfinite(v) else "lightgrey"


def _segments(reports: list[dict]) -> list[list[dict]]:
    """Runs of reports with consecutive iterations and one configuration: a trial that went
    on from another's checkpoint (PBT's exploit) jumps to its iteration, with a new one."""
    segments = [[reports[0]]]
    for previous, report in zip(reports, reports[1:]):
        if report.get("training_iteration") == previous.get("training_iteration", 0) + 1 and report.get(
            "config"
        ) == previous.get("config"):
            segments[-1].append(report)
        else:
            segments.append([report])
    return segments


def _is_log(values: Sequence[Any]) -> bool:  # its finite numbers count; anything else is skipped
    finite = [v for v in values if is_number(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) >= LOG_SPAN


def _scale(ax, values: Sequence[Any]) -> None:
    if _is_log(values):
        ax.set_yscale("log")


def _normalised(p: Parameter) -> list[float]:
    """Positions on the axis, 0 to 1."""
    positions = p.positions()
    if p.categories is not None:
        return [v / max(len(p.categories) - 1, 1) for v in positions]
    finite = [v for v in positions if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    return [(v - low) / (high - low) if high > low else 0.5 for v in positions]


def _ticks(p: Parameter) -> list[tuple[float, str]]:
    if p.categories is not None:
        last = max(len(p.categories) - 1, 1)
        return [(i / last, _cut(text)) for i, text in enumerate(p.categories)]
    finite = [v for v in p.positions() if math.isfinite(v)]
    if not finite:
        return []
    low, high = min(finite), max(finite)
    ticks = [(0.0, low), (0.5, (low + high) / 2), (1.0, high)] if high > low else [(0.5, low)]
    return [(y, f"{10**v if p.log else v:.3g}") for y, v in ticks]


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
