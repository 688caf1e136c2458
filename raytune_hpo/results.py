"""Results of an experiment, read from its directory: no Ray cluster needed.

:func:`raytune_hpo.run` returns a :class:`Results`; :func:`load` reads the same object back in
any later process, while the experiment runs too::

    res = hpo.load("runs/digits-asha")
    res.best_config, res.best_metrics["val_loss"]
    res.dataframe().head()      # a row per trial, best first

The trials are those of the experiment's journal (:mod:`raytune_hpo.directory`), in the order
they first started; each trial's reports are read from its ``result.json`` when first asked
for, so that loading costs the same for ten trials as for ten thousand.

The best trial is the one whose best report (over all its iterations) is best; its
``best_config`` is the configuration in force at that report (PBT changes it on the way), and
``best_checkpoint`` the checkpoint saved with that report, or the best one kept of that trial.
Reports whose metric is NaN or infinite are never chosen, and nor is a trial that violated a
constraint (``constraints`` of :func:`raytune_hpo.run`).

With several objectives there is no single best: :meth:`Results.pareto_front` gives the trials
no other feasible trial dominates, each represented by its **last** report (the state its
training ended in; see :mod:`raytune_hpo._objectives`), and :meth:`Results.hypervolume` the
volume they dominate; ``best_config``, ``best_metrics``, ``best_checkpoint`` and ``best_trial``
refuse in one line pointing at ``pareto_front()``::

    res = hpo.load("runs/digits-mo")
    res.pareto_front()[["trial_id", "val_loss", "n_params"]]
    res.hypervolume([1.0, 50_000])
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import Any

from raytune_hpo._objectives import Objectives, Point, hypervolume
from raytune_hpo._options import is_number, is_real
from raytune_hpo.directory import (
    ERROR_FILE,
    TrialRecord,
    read_journal,
    read_meta,
    read_results,
    read_text,
)
from raytune_hpo.errors import ConfigError
from raytune_hpo.space import Space, display, flatten
from raytune_hpo.trainable import CHECKPOINT_FILE, load_checkpoint_file

# What a trial's status is once its experiment stopped with it unfinished.
INTERRUPTED = "INTERRUPTED"
_SIGNALS = {
    "SIGINT": "Ctrl-C",
    "SIGTERM": "SIGTERM",
    "SIGHUP": "the terminal closed",
    "SIGUSR1": "SIGUSR1, as on SLURM's time-limit warning",
}


@dataclass
class Trial:
    """One trial as recorded: its configuration, every report, and how it ended (``status``:
    ``TERMINATED``, ``ERROR``, ``RUNNING``, or ``INTERRUPTED`` where the experiment stopped
    before it ended)."""

    trial_id: str
    name: str
    path: str
    status: str
    config: dict
    _record: TrialRecord | None = field(default=None, repr=False, compare=False)
    _metric: str | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def history(self) -> list[dict]:
        """Every report, in order (``result.json``)."""
        return read_results(self.path)

    @property
    def _ended(self) -> TrialRecord | None:
        """The journal's end record, where the trial ended."""
        record = self._record
        return record if record is not None and record.status in ("TERMINATED", "ERROR") else None

    @property
    def start_time(self) -> float | None:
        """When it first started, in seconds since the epoch."""
        return self._record.started if self._record is not None else None

    @property
    def end_time(self) -> float | None:
        """When it ended (its last end, after a retry), where it ended."""
        ended = self._ended
        return ended.ended if ended is not None else None

    @property
    def iterations(self) -> int:
        ended = self._ended
        if ended is not None and ended.iterations is not None:
            return ended.iterations
        return int(self.history[-1].get("training_iteration", len(self.history))) if self.history else 0

    @functools.cached_property
    def error(self) -> str | None:
        """Ray Tune's record of every failure of the trial, each with its traceback."""
        record = self._record
        if self.status != "ERROR" and record is not None and not record.failures:
            return None
        return read_text(os.path.join(self.path, ERROR_FILE))

    @property
    def error_line(self) -> str | None:
        """The error in one line: the exception and the first line of its message, from the
        last failure of ``error`` (Ray's record of every failure, each with its traceback)."""
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.error or "")  # Ray colours the worker's name
        if "Failure # " in text:  # the last failure, without its header line
            text = text.rsplit("Failure # ", 1)[1].partition("\n")[2]
        lines = [line for line in text.splitlines() if line.strip()]
        frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
        if frames:  # a traceback: after its last frame and that frame's source lines, the exception
            lines = [line for line in lines[frames[-1] + 1 :] if not line[0].isspace()] or lines
        return lines[0].strip() if lines else None

    def non_finite(self, metric: str) -> str | None:
        """``"loss was nan at iteration 3"`` for a trial that reported ``metric`` NaN or
        infinite (stopped there; never the best), else None."""
        ended = self._ended
        if ended is not None and metric == self._metric:
            return ended.non_finite
        for report in self.history:
            if is_non_finite(report.get(metric)):
                return f"{metric} was {report[metric]} at iteration {report.get('training_iteration', '?')}"
        return None

    def point(self, objectives: Objectives) -> Point:
        """The trial as compared with several objectives or constraints: its last report's
        objectives (minimisation form) and the largest constraint violation of its reports,
        from the journal's end record where it has them."""
        ended = self._ended
        if ended is not None and ended.last is not None and ended.violation is not None:
            return objectives.values(ended.last), float(ended.violation)
        return objectives.point(self.history)

    def best_value(self, metric: str, mode: str) -> float | None:
        """The best finite value of ``metric`` the trial reported, or None."""
        ended = self._ended
        if ended is not None and metric == self._metric and ended.reports is not None:
            return ended.best[1] if ended.best else None
        best = self.best_report(metric, mode)
        return best[metric] if best else None

    def best_report(self, metric: str, mode: str) -> dict | None:
        ended = self._ended
        if ended is not None and metric == self._metric and ended.best and ended.best[0] < len(self.history):
            return self.history[ended.best[0]]
        scored = [r for r in self.history if is_number(r.get(metric))]
        if not scored:
            return None
        pick = min if mode == "min" else max
        return pick(scored, key=lambda r: r[metric])

    def checkpoint_path(self, report: dict, metric: str, mode: str) -> str | None:
        """The checkpoint saved with ``report`` if it was kept, else the best kept one."""

        def kept(r: dict) -> str | None:
            name = r.get("checkpoint_dir_name")
            path = os.path.join(self.path, name, CHECKPOINT_FILE) if name else None
            return path if path and os.path.exists(path) else None

        own = kept(report)
        if own:
            return own
        candidates = [r for r in self.history if kept(r) and is_number(r.get(metric))]
        if not candidates:
            return None
        pick = min if mode == "min" else max
        return kept(pick(candidates, key=lambda r: r[metric]))


class Results:
    """An experiment's trials and its best result."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.meta = read_meta(self.path)
        self.name: str = self.meta["name"]
        self.objectives = Objectives.from_meta(self.meta)
        self.metric: str | list[str] = self.meta["metric"]
        """As given to run(): a name, or a list of names for several objectives."""
        self.mode: str | list[str] = self.meta["mode"]
        journal = read_journal(self.path)
        self.stop: dict | None = journal.stop
        self.state: str = _state(self.path, journal.stop)
        """``finished``, ``running`` (a process runs it now), or ``interrupted`` (it stopped
        before its end: a signal, a full disk, its driver killed)."""
        self.trials: list[Trial] = [
            Trial(
                r.trial_id,
                r.name,
                os.path.join(self.path, r.name),
                INTERRUPTED if r.status == "RUNNING" and self.state != "running" else r.status,
                r.config,
                r,
                self.objectives.primary,
            )
            for r in journal.trials.values()
        ]

    @functools.cached_property
    def space(self) -> Space | None:
        """The search space as ``hpo.json`` recorded it (choice options and constants as the
        journal writes them: JSON, or the ``str`` of what JSON cannot hold); None for an
        experiment recorded before it was kept."""
        spec = self.meta.get("space")
        return Space.from_json(spec) if spec else None

    def __repr__(self) -> str:
        if self.objectives.several:
            best = f"a front of {len(self._front)}"
        else:
            best = f"best {self.metric}={self.best_metrics.get(self.metric) if self.best_metrics else None}"
        return f"Results({self.path!r}: {len(self.trials)} trials, {self.num_errors} errors, {best})"

    @property
    def num_errors(self) -> int:
        return sum(t.status == "ERROR" for t in self.trials)

    @property
    def planned_trials(self) -> int | None:
        """The trials the experiment runs when it completes (``num_samples`` times any grid)."""
        return self.meta.get("planned_trials")

    def interruption(self) -> str | None:
        """One line: what stopped the experiment before its end, how far it got, and how to
        finish it; None for an experiment that finished or runs."""
        if self.state != "interrupted":
            return None
        stop = self.stop or {}
        how = (
            "its driver stopped without saving (killed?)"
            if not stop
            else "its storage full"
            if stop.get("reason") == "out of space"
            else f"an error: {stop.get('error')}"
            if stop.get("reason") == "failed"
            else _SIGNALS.get(stop.get("signal", ""), f"signal {stop.get('signal')}")
        )
        ended = sum(t.status in ("TERMINATED", "ERROR") for t in self.trials)
        planned = f" of {self.planned_trials}" if self.planned_trials else ""
        if self.objectives.several:
            so_far = f", a front of {len(self._front)} so far"
        else:
            best, metric = self.best_trial, self.objectives.primary
            so_far = (
                f", best {metric} {best.best_value(metric, self.objectives.primary_mode):.6g} so far" if best else ""
            )
        return (
            f"interrupted ({how}): {ended}{planned} trials finished{so_far}; finish it with: "
            f"raytune-hpo resume {self.path} (or hpo.resume({self.path!r}) in Python)"
        )

    @functools.cached_property
    def best_trial(self) -> Trial | None:
        """The feasible trial whose best report is the best (one objective only)."""
        self._one_objective("best_trial")
        metric, mode = self.objectives.primary, self.objectives.primary_mode
        scored = [
            (t, v)
            for i, t in enumerate(self.trials)
            if (v := t.best_value(metric, mode)) is not None and (not self.objectives.constraints or self._feasible(i))
        ]
        if not scored:
            return None
        pick = min if mode == "min" else max
        return pick(scored, key=lambda tv: tv[1])[0]

    def _one_objective(self, what: str) -> None:
        if self.objectives.several:
            raise ConfigError(
                f"{what}: this experiment has {len(self.objectives.metrics)} objectives "
                f"({', '.join(self.objectives.metrics)}), so no single best; use res.pareto_front() "
                "(and res.hypervolume(reference))"
            )

    def _feasible(self, i: int) -> bool:
        """Whether trial ``i`` reported and no report of it violated a constraint."""
        values, violation = self.points[i]
        return violation == 0.0 and (values is not None or bool(self.trials[i].history))

    @functools.cached_property
    def points(self) -> list[Point]:
        """Each trial's point, in the order of ``trials``: its last report's objectives in
        minimisation form (None where it has none) and its largest constraint violation
        (:meth:`Trial.point`); what the front, the ranking and the report compare."""
        return [t.point(self.objectives) for t in self.trials]

    @functools.cached_property
    def _front(self) -> list[int]:
        """The indices of the trials on the Pareto front (several objectives)."""
        return self.objectives.front(self.points)

    @property
    def _best(self) -> tuple[Trial, dict] | None:
        """The best trial and its best report."""
        trial = self.best_trial
        report = trial.best_report(self.objectives.primary, self.objectives.primary_mode) if trial else None
        return None if trial is None or report is None else (trial, report)

    def pareto_front(self):
        """The feasible trials no other feasible trial dominates (several objectives), each
        by its last report: a DataFrame with ``trial_id``, ``name``, ``status``, ``iterations``,
        a column per objective and constrained metric, and ``config.<name>`` per parameter,
        sorted by the first objective. With one objective: the best trial, by its best report."""
        import pandas as pd

        if self.objectives.several:
            rows = [(self.trials[i], self.trials[i].history[-1]) for i in self._front if self.trials[i].history]
        else:
            best = self._best
            rows = [best] if best else []
        columns = ["trial_id", "name", "status", "iterations", *self.objectives.reported]
        frame = pd.DataFrame(
            [
                {
                    "trial_id": t.trial_id,
                    "name": t.name,
                    "status": t.status,
                    "iterations": report.get("training_iteration", t.iterations),
                    **{m: report.get(m) for m in self.objectives.reported},
                    **{f"config.{display(k)}": v for k, v in flatten(report.get("config", t.config)).items()},
                }
                for t, report in rows
            ],
            columns=None if rows else columns,
        )
        if rows:
            frame = frame.sort_values(
                self.objectives.primary, ascending=self.objectives.primary_mode == "min"
            ).reset_index(drop=True)
        return frame

    def checkpoint_of(self, trial_id: str) -> dict | None:
        """The checkpoint dict of the report that stands for ``trial_id`` (its last with several
        objectives, its best with one), or the best one kept of that trial, loaded; None
        where it saved none. With several objectives, its last is always kept."""
        trial = next((t for t in self.trials if t.trial_id == trial_id), None)
        if trial is None:
            raise ConfigError(f"trial_id: no trial {trial_id!r} in {self.path!r}; see res.dataframe()['trial_id']")
        metric, mode = self.objectives.primary, self.objectives.primary_mode
        report = trial.history[-1] if self.objectives.several and trial.history else trial.best_report(metric, mode)
        path = trial.checkpoint_path(report, metric, mode) if report else None
        return load_checkpoint_file(path) if path else None

    def hypervolume(self, reference) -> float:
        """The hypervolume of the Pareto front: the volume of objective space its trials
        dominate, bounded by ``reference`` (one value per objective, in the metrics' own units
        and order: worse than every point that should count, e.g. ``[1.0, 50_000]`` for a loss
        and a parameter count both minimised). Trials not better than the reference in every
        objective add nothing."""
        metrics = self.objectives.metrics
        if (
            not isinstance(reference, (list, tuple))
            or len(reference) != len(metrics)
            or not all(is_number(r) for r in reference)
        ):
            raise ConfigError(
                f"reference: give one finite number per objective ({', '.join(metrics)}), got {reference!r}"
            )
        # In minimisation form, as the points are.
        ref = [float(r) if mode == "min" else -float(r) for r, mode in zip(reference, self.objectives.modes)]
        if self.objectives.several:
            vectors = [self.points[i][0] for i in self._front]
        else:
            best = self._best
            vectors = [self.objectives.values(best[1])] if best else []
        return hypervolume([v for v in vectors if v is not None], ref)

    @property
    def best_metrics(self) -> dict | None:
        """The best trial's best report: every metric it reported then, with Ray's bookkeeping
        (``training_iteration``, ``time_total_s``...) but without the config."""
        self._one_objective("best_metrics")
        best = self._best
        return None if best is None else {k: v for k, v in best[1].items() if k != "config"}

    @property
    def best_config(self) -> dict | None:
        self._one_objective("best_config")
        best = self._best
        if best is None:
            return None
        trial, report = best
        return report.get("config", trial.config)

    @property
    def best_checkpoint(self) -> dict | None:
        """The checkpoint dict of the best report (see the module's docstring), loaded."""
        self._one_objective("best_checkpoint")
        best = self._best
        if best is None:
            return None
        trial, report = best
        path = trial.checkpoint_path(report, self.objectives.primary, self.objectives.primary_mode)
        return load_checkpoint_file(path) if path else None

    def dataframe(self):
        """A row per trial, best first: ``trial_id``, ``status``, ``iterations``, ``duration_s``
        (the ``time_total_s`` of its last report), ``error`` (in one line), ``non_finite``
        (``"loss was nan at iteration 3"`` where the trial was stopped for it), ``node``,
        ``config.<name>`` for every parameter (nested ones dotted), ``last.<metric>`` for
        every metric of its last report, and ``best.<metric>`` for the objective. With
        constraints, ``feasible`` (no report violated one; infeasible trials come after the
        feasible ones). With several objectives, ``last.<metric>`` holds every objective (the
        last report stands for the trial), ``pareto`` says which trials are on the front, and
        the rows follow non-dominated sorting (the front first, crowding distance within a
        front), with no ``best.`` column."""
        import math

        import pandas as pd

        objectives = self.objectives
        metric, mode = objectives.primary, objectives.primary_mode
        front = set(self._front) if objectives.several else set()
        rows = []
        for i, t in enumerate(self.trials):
            last = t.history[-1] if t.history else {}
            row: dict[str, Any] = {
                "trial_id": t.trial_id,
                "status": t.status,
                "iterations": t.iterations,
                # Training time, not wall time: a trial restored from a checkpoint (a retry,
                # a resume, a PBT exploit) goes on from the time saved with it.
                "duration_s": last.get("time_total_s"),
                "error": t.error_line,
                "non_finite": t.non_finite(metric),
                # The SLURM node (or else the host) that ran the last report.
                "node": last.get("node") or last.get("hostname"),
            }
            if objectives.constraints:
                row["feasible"] = self._feasible(i)
            if objectives.several:
                row["pareto"] = i in front
            row.update({f"config.{display(k)}": v for k, v in flatten(last.get("config", t.config)).items()})
            row.update({f"last.{k}": v for k, v in last.items() if is_metric(k, v)})
            if not objectives.several:
                best = t.best_value(metric, mode)
                row[f"best.{metric}"] = best if best is not None else math.nan
            rows.append(row)
        if objectives.several:
            rows = [rows[i] for i in objectives.rank(self.points)]
        frame = pd.DataFrame(rows)
        if rows and not objectives.several:
            by, ascending = [f"best.{metric}"], [mode == "min"]
            if objectives.constraints:
                by, ascending = ["feasible", *by], [False, *ascending]
            frame = frame.sort_values(by, ascending=ascending, na_position="last", kind="stable")
            frame = frame.reset_index(drop=True)
        return frame


def _state(path: str, stop: dict | None) -> str:
    """A session without its stop event is running, or its driver died (the lock is free)."""
    from raytune_hpo._lock import is_held

    if stop is not None:
        return "finished" if stop.get("reason") == "finished" else "interrupted"
    return "running" if is_held(path) else "interrupted"


def load(path: str) -> Results:
    """Read a finished, running or interrupted experiment from its directory, without Ray."""
    return Results(path)


RAY_FIELDS = frozenset(
    {
        "timestamp",
        "done",
        "training_iteration",
        "trial_id",
        "date",
        "time_this_iter_s",
        "time_total_s",
        "pid",
        "hostname",
        "node_ip",
        "time_since_restore",
        "iterations_since_restore",
        "checkpoint_dir_name",
        "config",
        "experiment_tag",
    }
)
"""What Ray Tune adds to every report: bookkeeping, not metrics."""


def is_metric(key: str, value: Any) -> bool:
    return key not in RAY_FIELDS and is_real(value)


def is_non_finite(value: Any) -> bool:
    """A number that is NaN or infinite (a missing or non-numeric value is not)."""
    return is_real(value) and not is_number(value)
