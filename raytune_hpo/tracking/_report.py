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
from raytune_hpo.tracking._rungs import horizon, rungs, scheduler_info, stopped_early

REPORT_FILE = "report.html"
COMPARISON_FILE = "comparison.html"
PLOTS = ("best_so_far.png", "learning_curves.png", "parallel_coordinates.png", "importance.png")

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
    plots beside it; return the report's path."""
    frame = results.dataframe()
    stopped = stopped_early(results)
    params = parameters(frame)
    objective = [float(v) for v in frame[f"best.{results.objectives.primary}"]] if len(frame) else []
    plots: dict[str, bytes] = {}
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
    ``comparison.html`` in the first experiment's directory); return its path."""
    from raytune_hpo.tracking._plots import best_so_far_figure

    first = experiments[0]
    for other in experiments[1:]:
        if (other.metric, other.mode) != (first.metric, first.mode):
            raise ConfigError(
                f"experiments compare on one metric: {first.path!r} has {first.metric} ({first.mode}), "
                f"{other.path!r} has {other.metric} ({other.mode})"
            )
    traces = [(e.name, best_so_far(e)) for e in experiments]
    plots = {"best_so_far.png": best_so_far_figure(traces, first.objectives.primary, first.objectives.primary_mode)}
    header = [
        "experiment",
        "searcher",
        "scheduler",
        "trials",
        "errors",
        "iterations",
        "wall time (s)",
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
                    e.name,
                    e.meta.get("searcher"),
                    e.meta.get("scheduler"),
                    len(e.trials),
                    e.num_errors,
                    trace.iterations[-1] if trace.iterations else 0,
                    trace.seconds[-1] if trace.seconds else None,
                    best.get(first.objectives.primary),
                    e.best_trial.trial_id if e.best_trial else None,
                    _configuration(e.best_config) if e.best_config else None,
                    e.path,
                ]
            )
        )
    sections = [
        f"<h1>Comparison of {len(experiments)} experiments</h1>"
        f"<p class='meta'>metric {_e(first.objectives.primary)} ({_e(first.objectives.primary_mode)}) · "
        f"written {_e(time.strftime('%Y-%m-%d %H:%M:%S'))}</p>",
        "<h2>Best of each</h2>" + _table(header, rows, table_id="experiments"),
        "<h2>Best so far</h2>"
        + _figure(
            "best_so_far.png",
            plots,
            "The best value found so far by each "
            "experiment, against the training iterations spent and against wall time.",
        ),
    ]
    return _write(output or os.path.join(first.path, COMPARISON_FILE), "comparison", sections, plots)


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
    facts = [
        f"metric {results.objectives.primary} ({results.objectives.primary_mode})",
        f"searcher {meta.get('searcher')}",
        f"scheduler {meta.get('scheduler')}",
        f"max_t {meta.get('max_t')}",
        f"{len(results.trials)} trials ({', '.join(f'{n} {s}' for s, n in sorted(states.items())) or 'none yet'})",
        f"{sum(len(t.history) for t in results.trials)} iterations",
        f"written {time.strftime('%Y-%m-%d %H:%M:%S')}",
    ]
    text = f"<h1>{_e(results.name)}</h1><p class='meta'>{_e(' · '.join(facts))}<br>{_e(results.path)}</p>"
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
    header = ["trial", *params, f"best {metric}", f"last {metric}", "iterations", "duration (s)", "status", "node"]
    best_id = results.best_trial.trial_id if results.best_trial else None
    rows = []
    for _, r in frame.iterrows():
        if r["trial_id"] in stopped:
            status = "stopped early"
        else:
            status = str(r["status"]).lower()
        cells = [
            r["trial_id"],
            *(r[f"config.{p}"] for p in params),
            r[f"best.{metric}"],
            r.get(f"last.{metric}"),
            r["iterations"],
            r["duration_s"],
            status,
            r["node"],
        ]
        kind = "best" if r["trial_id"] == best_id else "error" if r["status"] == "ERROR" else None
        rows.append(_row(cells, kind, title=r["error"] if isinstance(r["error"], str) else None))
    fixed = constants(frame)
    text = "<h2>Trials</h2><p class='note'>Best first, by the best " + _e(metric) + " each trial reported"
    text += "; the training time of a trial restored from a checkpoint counts from the time saved with it.</p>"
    if fixed:
        text += "<p>The same in every trial: " + _e(", ".join(f"{k} = {label(v)}" for k, v in fixed.items())) + ".</p>"
    return text + "<div class='scroll'>" + _table(header, rows, table_id="runs") + "</div>"


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
    return "<h2>Learning curves</h2>" + _figure("learning_curves.png", plots, caption)


def _parallel_coordinates_section(params, objective: list[float], results: Results, plots: dict[str, bytes]) -> str:
    from raytune_hpo.tracking._plots import parallel_coordinates_figure

    if not params or not any(math.isfinite(v) for v in objective):
        return ""
    plots["parallel_coordinates.png"] = parallel_coordinates_figure(
        params, objective, results.objectives.primary, results.objectives.primary_mode
    )
    return (
        "<h2>Parameters against "
        + _e(results.objectives.primary)
        + "</h2>"
        + _figure(
            "parallel_coordinates.png",
            plots,
            "One line per trial through its parameters (its last configuration) to its best "
            + _e(results.objectives.primary)
            + "; categories evenly spaced, numbers from least to greatest.",
        )
    )


def _importance_section(params, objective: list[float], results: Results, plots: dict[str, bytes]) -> str:
    from raytune_hpo.tracking._plots import importance_figure

    result = importance(params, objective, results.objectives.primary, results.objectives.primary_mode)
    if result.method is None:
        return "<h2>Parameter importance</h2><p class='note'>" + _e(result.note) + "</p>"
    plots["importance.png"] = importance_figure(result)
    rows = [_row([name, score]) for name, score in result.scores.items()]
    return (
        "<h2>Parameter importance</h2><p>Method: "
        + _e(result.method)
        + ", on each trial's best "
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
