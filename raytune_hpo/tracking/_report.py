"""The static report of an experiment, ``DIR/report.html``, and the comparison of several.

One self-contained HTML file: CSS inline and plots embedded as base64 PNG data URIs, so it
opens anywhere (mailed, copied off the cluster, offline) and makes no request. The plots are
also written as PNG files beside it (``DIR/report/*.png``), for slides and papers. A run
writes its report when it ends (:func:`write_report_or_warn`); ``raytune-hpo report`` writes
it again, or compares experiments.
"""

from __future__ import annotations

import base64
import html
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from raytune_hpo._options import is_real
from raytune_hpo.errors import ConfigError
from raytune_hpo.results import Results
from raytune_hpo.space import display, flatten
from raytune_hpo.tracking._best_so_far import best_so_far
from raytune_hpo.tracking._importance import importance
from raytune_hpo.tracking._lineage import EXPLOITS_FILE, exploits
from raytune_hpo.tracking._parameters import constants, label, parameters
from raytune_hpo.tracking._pareto import (
    INFEASIBLE,
    REFERENCE_MARGIN,
    Placed,
    describe_reference,
    hypervolume_over_budget,
    reference_point,
    split,
)
from raytune_hpo.tracking._rungs import horizon, rungs, scheduler_info, stopped_early

REPORT_FILE = "report.html"
COMPARISON_FILE = "comparison.html"
PLOTS = (
    "best_so_far.png",
    "learning_curves.png",
    "parallel_coordinates.png",
    "importance.png",
    "pareto_front.png",
    "hypervolume.png",
)

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta { color: #555; } .note { color: #555; font-style: italic; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; position: sticky; top: 0; } td.text { text-align: left; }
tr.best td { background: #eef7ee; font-weight: 600; } tr.error td { color: #a00; }
.scroll { max-height: 36em; overflow: auto; } img { max-width: 100%; }
figure { margin: 0.5em 0; } figcaption { color: #555; font-size: 13px; }
"""


def write_report(results: Results, output: str | None = None) -> str:
    """Write the report of one experiment to ``output`` (default ``DIR/report.html``) and its
    plots beside it; return the report's path.

    With several objectives the Pareto front takes the place of the best trial, and the
    hypervolume over budget that of the best so far; the learning curves, the parameters
    plot and the parameter importance show the first objective, each trial by its last report
    (the one that stands for it on the front), and say so in their headings."""
    frame = results.dataframe()
    stopped = stopped_early(results)
    params = parameters(frame)
    plots: dict[str, bytes] = {}
    if results.objectives.several:
        column = f"last.{results.objectives.primary}"
        first = [float(v) if is_real(v) else math.nan for v in frame[column]] if column in frame else []
        placed = split(results)
        reference = reference_point(results.objectives, results.points)
        sections = [
            _summary(results) + _front_summary(results, placed, reference),
            _run_table(results, frame, stopped),
            _pareto_section(results, placed, reference, plots),
            _hypervolume_section(results, reference, plots),
            _learning_curves_section(results, stopped, plots),
            _parallel_coordinates_section(params, first, results, plots),
            _importance_section(params, first, results, plots),
            _scheduler_section(results),
        ]
    else:
        objective = [float(v) for v in frame[f"best.{results.objectives.primary}"]] if len(frame) else []
        sections = [
            _summary(results),
            _run_table(results, frame, stopped),
            _best_so_far_section(results, plots),
            _learning_curves_section(results, stopped, plots),
            _parallel_coordinates_section(params, objective, results, plots),
            _importance_section(params, objective, results, plots),
            _scheduler_section(results),
        ]
    return _write(output or os.path.join(results.path, REPORT_FILE), f"{results.name}: report", sections, plots)


def write_comparison(experiments: Sequence[Results], output: str | None = None) -> str:
    """Write the comparison of experiments on one metric to ``output`` (default
    ``comparison.html`` in the first experiment's directory); return its path. Experiments
    with several objectives compare by hypervolume over budget (:func:`_compare_fronts`)."""
    from raytune_hpo.tracking._plots import best_so_far_figure

    first = experiments[0]
    if any(e.objectives.several for e in experiments):
        return _compare_fronts(experiments, output)
    for other in experiments[1:]:
        if (other.metric, other.mode) != (first.metric, first.mode):
            raise ConfigError(
                f"experiments compare on one metric: {first.path!r} has {first.metric} ({first.mode}), "
                f"{other.path!r} has {other.metric} ({other.mode})"
            )
    traces = [(e.name, best_so_far(e)) for e in experiments]
    plots = {"best_so_far.png": best_so_far_figure(traces, first.objectives.primary, first.objectives.primary_mode)}
    header = [
        *_EXPERIMENT_COLUMNS,
        f"best {first.objectives.primary}",
        "best trial",
        "best configuration",
        "directory",
    ]
    rows = []
    for e, (_, trace) in zip(experiments, traces):
        best = e.best_metrics or {}
        rows.append(
            _row(
                [
                    *_experiment_cells(e, trace),
                    best.get(first.objectives.primary),
                    e.best_trial.trial_id if e.best_trial else None,
                    _configuration(e.best_config) if e.best_config else None,
                    e.path,
                ]
            )
        )
    caption = (
        "The best value found so far by each experiment, against the training iterations spent and against wall time."
    )
    body = [
        "<h2>Best of each</h2>" + _table(header, rows, table_id="experiments"),
        "<h2>Best so far</h2>" + _figure("best_so_far.png", plots, caption),
    ]
    what = f"metric {first.objectives.primary} ({first.objectives.primary_mode})"
    return _comparison(experiments, output, what, body, plots)


def _compare_fronts(experiments: Sequence[Results], output: str | None) -> str:
    """Experiments with the same objectives and constraints, side by side: the front of each,
    its hypervolume, and the hypervolume over budget, all against one reference point (the
    rule of ``_pareto``, over the feasible trials of every experiment)."""
    from raytune_hpo.tracking._plots import hypervolume_figure

    first = experiments[0]
    for other in experiments[1:]:
        if other.objectives != first.objectives:
            raise ConfigError(
                f"experiments compare on the same objectives: {first.path!r} has {first.objectives.describe()}, "
                f"{other.path!r} has {other.objectives.describe()}"
            )
    found = [e.points for e in experiments]
    reference = reference_point(first.objectives, [p for f in found for p in f])
    if reference is None:
        raise ConfigError("experiments compare by the hypervolume of their fronts, and none has a feasible trial yet")
    traces = [(e.name, hypervolume_over_budget(e, reference)) for e in experiments]
    plots = {"hypervolume.png": hypervolume_figure(traces)}
    header = [*_EXPERIMENT_COLUMNS, "trials on the front", "hypervolume", "directory"]
    rows = [
        _row(
            [
                *_experiment_cells(e, trace),
                len(first.objectives.front(f)),
                e.hypervolume(list(reference)),
                e.path,
            ]
        )
        for e, f, (_, trace) in zip(experiments, found, traces)
    ]
    caption = (
        "The hypervolume of each experiment's front so far, against the training iterations spent "
        "(one per report) and against wall time; a trial joins its front at its last report. "
        + _reference_rule(first, reference, "the trials of every experiment")
    )
    body = [
        "<h2>Front of each</h2>" + _table(header, rows, table_id="experiments"),
        "<h2>Hypervolume over budget</h2>" + _figure("hypervolume.png", plots, caption),
    ]
    return _comparison(experiments, output, f"objectives {first.objectives.describe()}", body, plots)


def _comparison(
    experiments: Sequence[Results], output: str | None, what: str, body: list[str], plots: dict[str, bytes]
) -> str:
    """Write a comparison page: its heading (``what`` is compared), then ``body``."""
    heading = (
        f"<h1>Comparison of {len(experiments)} experiments</h1>"
        f"<p class='meta'>{_e(what)} · written {_e(time.strftime('%Y-%m-%d %H:%M:%S'))}</p>"
    )
    return _write(output or os.path.join(experiments[0].path, COMPARISON_FILE), "comparison", [heading, *body], plots)


_EXPERIMENT_COLUMNS = ("experiment", "searcher", "scheduler", "trials", "errors", "iterations", "wall time (s)")


def _experiment_cells(e: Results, trace) -> list[Any]:
    """The first cells of an experiment's row in a comparison: name, searcher, scheduler,
    trials, errors, iterations and wall time spent (from its trace over budget)."""
    return [
        e.name,
        e.meta.get("searcher"),
        e.meta.get("scheduler"),
        len(e.trials),
        e.num_errors,
        trace.iterations[-1] if trace.iterations else 0,
        trace.seconds[-1] if trace.seconds else None,
    ]


def write_report_or_warn(results: Results) -> None:
    """The report at the end of a run: a failure costs one line on stderr, never the run."""
    try:
        write_report(results)
    except Exception as e:  # noqa: BLE001 - the results are saved; the report is a view of them
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"raytune-hpo: warning: no report written for {results.path}: {reason}", file=sys.stderr)


def plots_folder(report: str) -> str:
    """Where a report's PNG files go: ``report.html`` -> ``report/``."""
    root, extension = os.path.splitext(report)
    return root if extension else report + "_plots"


def _write(path: str, title: str, sections: Iterable[str], plots: dict[str, bytes]) -> str:
    path = os.path.abspath(path)
    folder = plots_folder(path)
    page = (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
    try:
        os.makedirs(folder, exist_ok=True)
        for name in PLOTS:  # an earlier report's plot that this one lacks would mislead
            if name not in plots and os.path.exists(os.path.join(folder, name)):
                os.remove(os.path.join(folder, name))
        for name, png in plots.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(png)
        temporary = path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(temporary, path)  # a reader never sees half a report
    except OSError as e:
        raise ConfigError(f"output: cannot write {path!r} ({e.strerror}); choose a writable path") from None
    return path


def _summary(results: Results) -> str:
    meta = results.meta
    states: dict[str, int] = {}
    for t in results.trials:
        states[t.status.lower()] = states.get(t.status.lower(), 0) + 1
    several = results.objectives.several
    facts = [
        f"objectives {results.objectives.describe()}"
        if several
        else f"metric {results.objectives.primary} ({results.objectives.primary_mode})",
        f"searcher {meta.get('searcher')}",
        f"scheduler {meta.get('scheduler')}",
        f"max_t {meta.get('max_t')}",
        f"{len(results.trials)} trials ({', '.join(f'{n} {s}' for s, n in sorted(states.items())) or 'none yet'})",
        f"{sum(len(t.history) for t in results.trials)} iterations",
        f"written {time.strftime('%Y-%m-%d %H:%M:%S')}",
    ]
    text = f"<h1>{_e(results.name)}</h1><p class='meta'>{_e(' · '.join(facts))}<br>{_e(results.path)}</p>"
    if several:  # no best trial: the front, in _front_summary
        return text
    best, trial, config = results.best_metrics, results.best_trial, results.best_config
    if best is not None and trial is not None and config is not None:  # all or none: the best trial's best report
        text += (
            f"<p>Best {_e(results.objectives.primary)}: <b>{_e(_number(best[results.objectives.primary]))}</b> by "
            f"{_e(trial.trial_id)} at iteration {_e(best.get('training_iteration'))}, "
            f"with {_e(_configuration(config))}.</p>"
        )
    return text


def _run_table(results: Results, frame, stopped: set[str]) -> str:
    if not len(frame):
        return "<h2>Trials</h2><p class='note'>No trial was recorded yet.</p>"
    metric = results.objectives.primary
    params = [p.name for p in parameters(frame)]
    shown, highlighted = _shown(results, frame)
    header = ["trial", *params, *(name for name, _ in shown), "iterations", "duration (s)", "status", "node"]
    rows = []
    for _, r in frame.iterrows():
        if r["trial_id"] in stopped:
            status = "stopped early"
        else:
            status = str(r["status"]).lower()
        cells = [
            r["trial_id"],
            *(r[f"config.{p}"] for p in params),
            *(_yes_no(r.get(column)) if column in _FLAGS else r.get(column) for _, column in shown),
            r["iterations"],
            r["duration_s"],
            status,
            r["node"],
        ]
        kind = "best" if r["trial_id"] in highlighted else "error" if r["status"] == "ERROR" else None
        rows.append(_row(cells, kind, title=r["error"] if isinstance(r["error"], str) else None))
    fixed = constants(frame)
    if results.objectives.several:
        text = (
            "<h2>Trials</h2><p class='note'>In the order of non-dominated sorting, each trial by its last "
            "report: the Pareto front first (highlighted), then the next fronts, each by crowding distance"
            + ("; infeasible trials after every feasible one" if results.objectives.constraints else "")
        )
    else:
        text = "<h2>Trials</h2><p class='note'>Best first, by the best " + _e(metric) + " each trial reported"
    text += "; the training time of a trial restored from a checkpoint counts from the time saved with it.</p>"
    if fixed:
        text += "<p>The same in every trial: " + _e(", ".join(f"{k} = {label(v)}" for k, v in fixed.items())) + ".</p>"
    return text + "<div class='scroll'>" + _table(header, rows, table_id="runs") + "</div>"


_FLAGS = ("pareto", "feasible")  # run-table columns of booleans, shown as yes / no


def _shown(results: Results, frame) -> tuple[list[tuple[str, str]], set[str]]:
    """The run table's metric columns (heading, column of the frame) and the trials it
    highlights: the best trial's best and last value of the metric; with several objectives,
    the last value of every objective and constrained metric, whether the trial is on the front
    (those highlighted) and, with constraints, feasible."""
    if not results.objectives.several:
        metric = results.objectives.primary
        best = results.best_trial
        return [(f"best {metric}", f"best.{metric}"), (f"last {metric}", f"last.{metric}")], (
            {best.trial_id} if best else set()
        )
    shown = [(f"last {m}", f"last.{m}") for m in results.objectives.reported] + [("on the front", "pareto")]
    if results.objectives.constraints:
        shown.append(("feasible", "feasible"))
    return shown, {trial_id for trial_id, on in zip(frame["trial_id"], frame["pareto"]) if on}


def _yes_no(value: Any) -> str | None:
    return None if value is None else "yes" if value else "no"


def _front_summary(results: Results, placed: list[Placed], reference: tuple[float, ...] | None) -> str:
    """The header's paragraph on the front, and which sections show the first objective."""
    objectives = results.objectives
    front = results.pareto_front()
    infeasible = sum(p.kind == INFEASIBLE for p in placed)
    if reference is None:
        text = "<p>No trial is on the Pareto front yet: no trial reported every objective"
        text += " within the constraints.</p>" if objectives.constraints else ".</p>"
    else:
        text = (
            f"<p>Pareto front: <b>{len(front)}</b> of {len(results.trials)} trials"
            + (f" ({infeasible} infeasible)" if objectives.constraints else "")
            + f"; hypervolume <b>{_e(_number(results.hypervolume(list(reference))))}</b> against the "
            f"reference point {_e(describe_reference(objectives, reference))} (see the Pareto front).</p>"
        )
    return text + (
        "<p class='note'>With several objectives there is no single best trial: the Pareto front takes "
        "its place, and the hypervolume over budget that of the best so far. The learning curves, the "
        f"parameters plot and the parameter importance show the first objective, {_e(objectives.primary)}, "
        "and say so.</p>"
    )


def _pareto_section(
    results: Results, placed: list[Placed], reference: tuple[float, ...] | None, plots: dict[str, bytes]
) -> str:
    from raytune_hpo.tracking._plots import pareto_figure

    objectives = results.objectives
    text = "<h2>Pareto front</h2>"
    if not placed:
        return text + "<p class='note'>No trial reported every objective yet.</p>"
    plots["pareto_front.png"] = pareto_figure(objectives, placed, reference)
    caption = (
        "Each trial by its last report, one panel per pair of objectives: in red the trials of the Pareto "
        "front (no feasible trial is as good in every objective and better in one), in blue the other "
        "feasible trials"
    )
    if objectives.constraints:
        constraints = ", ".join(f"{c.metric} {c.op} {c.bound:g}" for c in objectives.constraints)
        caption += f", in grey the infeasible ones (a report broke {_e(constraints)})"
    caption += "."
    if len(objectives.metrics) == 2 and reference is not None:
        caption += (
            " The red staircase joins the front; the shaded area it closes with the reference point (+) "
            "is its hypervolume."
        )
    if reference is not None:
        caption += " " + _reference_rule(results, reference, "the feasible trials")
    text += _figure("pareto_front.png", plots, caption)
    front = results.pareto_front()
    configs = [c for c in front.columns if c.startswith("config.")]
    rows = [
        _row(
            [
                r["trial_id"],
                *(r[m] for m in objectives.reported),
                r["iterations"],
                ", ".join(f"{c[len('config.') :]} = {_number(r[c])}" for c in configs if _text(r[c])),
            ],
            "best",
        )
        for _, r in front.iterrows()
    ]
    header = ["trial", *objectives.reported, "iteration", "configuration"]
    return (
        text
        + f"<p>The {len(front)} trials of the front, by {_e(objectives.primary)}, each by its last report.</p>"
        + _table(header, rows, table_id="pareto")
    )


def _hypervolume_section(results: Results, reference: tuple[float, ...] | None, plots: dict[str, bytes]) -> str:
    from raytune_hpo.tracking._plots import hypervolume_figure

    text = "<h2>Hypervolume over budget</h2>"
    if reference is None:
        return text + "<p class='note'>No feasible trial yet: there is no front to measure.</p>"
    trace = hypervolume_over_budget(results, reference)
    plots["hypervolume.png"] = hypervolume_figure([(None, trace)])
    return text + _figure(
        "hypervolume.png",
        plots,
        "The hypervolume of the Pareto front of the trials so far, against the training iterations spent by "
        "all trials together (one per report, in the order they were made) and against wall time. A trial "
        "joins the front at its last report, the one that stands for it, so the curve never falls and ends "
        f"at the front's hypervolume, {_e(_number(trace.values[-1] if trace.values else 0.0))}. "
        + _reference_rule(results, reference, "the feasible trials"),
    )


def _reference_rule(results: Results, reference: tuple[float, ...], among: str) -> str:
    """The caption's sentence on the reference point: which, and why."""
    return (
        f"The reference point ({_e(describe_reference(results.objectives, reference))}) is the worst value of "
        f"each objective among {among}, moved away by {REFERENCE_MARGIN:.0%} of that objective's range among "
        "them, so that the front's extreme trials count too."
    )


def _first_objective(results: Results) -> str:
    """What the headings of the one-objective sections add with several objectives."""
    return f" (first objective: {results.objectives.primary})" if results.objectives.several else ""


def _best_so_far_section(results: Results, plots: dict[str, bytes]) -> str:
    from raytune_hpo.tracking._plots import best_so_far_figure

    trace = best_so_far(results)
    if not any(math.isfinite(v) for v in trace.values):
        return (
            "<h2>Best so far</h2><p class='note'>No trial reported a finite "
            + _e(results.objectives.primary)
            + " yet.</p>"
        )
    plots["best_so_far.png"] = best_so_far_figure(
        [(None, trace)], results.objectives.primary, results.objectives.primary_mode
    )
    return "<h2>Best so far</h2>" + _figure(
        "best_so_far.png",
        plots,
        "The best value found so far, against the training iterations spent by all trials together "
        "(one per report) and against wall time.",
    )


def _learning_curves_section(results: Results, stopped: set[str], plots: dict[str, bytes]) -> str:
    from raytune_hpo.tracking._plots import learning_curves_figure

    if not any(t.best_report(results.objectives.primary, results.objectives.primary_mode) for t in results.trials):
        return ""
    plots["learning_curves.png"] = learning_curves_figure(results, stopped)
    caption = "Every trial's " + _e(results.objectives.primary) + " at each training iteration."
    if stopped:
        caption += f" An x marks where the scheduler stopped a trial ({len(stopped)} of {len(results.trials)})."
    if _exploits(results):
        caption += " A line breaks where its trial went on from another trial's checkpoint (see the lineage)."
    return f"<h2>Learning curves{_e(_first_objective(results))}</h2>" + _figure("learning_curves.png", plots, caption)


def _parallel_coordinates_section(params, objective: list[float], results: Results, plots: dict[str, bytes]) -> str:
    from raytune_hpo.tracking._plots import parallel_coordinates_figure

    if not params or not any(math.isfinite(v) for v in objective):
        return ""
    which = "last" if results.objectives.several else "best"
    plots["parallel_coordinates.png"] = parallel_coordinates_figure(
        params, objective, results.objectives.primary, results.objectives.primary_mode, which
    )
    return (
        "<h2>Parameters against "
        + _e(("the first objective: " if results.objectives.several else "") + results.objectives.primary)
        + "</h2>"
        + _figure(
            "parallel_coordinates.png",
            plots,
            f"One line per trial through its parameters (its last configuration) to its {which} "
            + _e(results.objectives.primary)
            + "; categories evenly spaced, numbers from least to greatest.",
        )
    )


def _importance_section(params, objective: list[float], results: Results, plots: dict[str, bytes]) -> str:
    from raytune_hpo.tracking._plots import importance_figure

    result = importance(params, objective, results.objectives.primary, results.objectives.primary_mode)
    if result.method is None:
        return (
            f"<h2>Parameter importance{_e(_first_objective(results))}</h2><p class='note'>" + _e(result.note) + "</p>"
        )
    plots["importance.png"] = importance_figure(result)
    rows = [_row([name, score]) for name, score in result.scores.items()]
    return (
        f"<h2>Parameter importance{_e(_first_objective(results))}</h2><p>Method: "
        + _e(result.method)
        + (", on each trial's last " if results.objectives.several else ", on each trial's best ")
        + _e(results.objectives.primary)
        + " (shares sum to 1).</p>"
        + _figure("importance.png", plots, "")
        + _table(["parameter", "importance"], rows, table_id="importance")
    )


def _exploits(results: Results) -> bool:
    """Whether the scheduler hands one trial's weights to another (PBT, PB2)."""
    info = scheduler_info(results)
    return info is not None and info.needs_checkpoints


def _scheduler_section(results: Results) -> str:
    scheduler, info = results.meta.get("scheduler"), scheduler_info(results)
    if info is not None and info.rungs is not None:
        found = rungs(results)
        text = "<h2>Rungs</h2>"
        if not found:
            return text + "<p class='note'>The scheduler stopped no trial early.</p>"
        rows = [_row([r.iteration, r.reached, r.stopped]) for r in found]
        return text + (
            f"<p class='note'>The iterations at which {_e(scheduler)} stopped trials (its options are not "
            f"recorded with the results, so a rung where it stopped none is not shown); the last row is "
            f"the horizon, {horizon(results)} iterations.</p>"
            + _table(["rung (iteration)", "trials that reached it", "stopped there"], rows, table_id="rungs")
        )
    if _exploits(results):
        copies = exploits(results)
        text = "<h2>Lineage</h2>"
        if not copies:
            return text + f"<p class='note'>No trial copied another ({EXPLOITS_FILE} holds no exploit).</p>"
        rows = [
            _row(
                [
                    x.iteration,
                    x.receiver,
                    x.donor,
                    x.donor_iteration,
                    "; ".join(f"{k}: {_number(a)} → {_number(b)}" for k, (a, b) in x.changes.items()) or "none",
                ]
            )
            for x in copies
        ]
        return text + (
            f"<p class='note'>Each exploit: a trial in the bottom quantile continued from the checkpoint of "
            f"one in the top quantile, with that trial's hyperparameters explored ({len(copies)} exploits).</p>"
            + _table(
                ["at iteration", "trial", "copied trial", "from its iteration", "hyperparameters (copied → explored)"],
                rows,
                table_id="lineage",
            )
        )
    return ""


def _figure(name: str, plots: dict[str, bytes], caption: str) -> str:
    data = base64.b64encode(plots[name]).decode("ascii")
    text = f"<figure><img src='data:image/png;base64,{data}' alt='{_e(name)}'>"
    return text + (f"<figcaption>{caption}</figcaption>" if caption else "") + "</figure>"


def _table(header: list[str], rows: list[str], table_id: str | None = None) -> str:
    identity = f" id='{table_id}'" if table_id else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f"<table{identity}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(cells: list[Any], kind: str | None = None, title: str | None = None) -> str:
    attributes = (f" class='{kind}'" if kind else "") + (f" title='{_e(title)}'" if title else "")
    tds = "".join(
        f"<td>{_e(_number(c))}</td>" if is_real(c) else f"<td class='text'>{_e(_text(c))}</td>" for c in cells
    )
    return f"<tr{attributes}>{tds}</tr>"


def _configuration(config: dict) -> str:
    return ", ".join(f"{display(k)} = {_number(v)}" for k, v in flatten(config).items())


def _number(value: Any) -> str:
    if isinstance(value, bool) or not is_real(value):
        return _text(value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return label(value)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
