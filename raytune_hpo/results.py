"""Results of an experiment, read from its directory: no Ray cluster needed.

:func:`raytune_hpo.run` returns a :class:`Results`; :func:`load` reads the same object back in
any later process::

    res = hpo.load("runs/digits-asha")
    res.best_config, res.best_metrics["val_loss"]
    res.dataframe().head()      # a row per trial, best first

The best trial is the one whose best report (over all its iterations) is best; its
``best_config`` is the configuration in force at that report (PBT changes it on the way), and
``best_checkpoint`` the checkpoint saved with that report, or the best one kept of that trial.
Reports whose metric is NaN or infinite are never chosen.
"""

from __future__ import annotations

import functools
import glob
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from raytune_hpo.errors import ConfigError
from raytune_hpo.space import display, flatten
from raytune_hpo.trainable import CHECKPOINT_FILE, load_checkpoint_file

META_FILE = "hpo.json"
_META_KEYS = ("name", "metric", "mode", "seed", "resources")  # what load and resume read


@dataclass
class Trial:
    """One trial as recorded: its configuration, every report, and how it ended."""

    trial_id: str
    name: str
    path: str
    status: str
    config: dict
    history: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def iterations(self) -> int:
        return int(self.history[-1].get("training_iteration", len(self.history))) if self.history else 0

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
            lines = [line for line in lines[frames[-1] + 1:] if not line[0].isspace()] or lines
        return lines[0].strip() if lines else None

    def non_finite(self, metric: str) -> str | None:
        """``"loss was nan at iteration 3"`` for a trial that reported ``metric`` NaN or
        infinite (stopped there; never the best), else None."""
        for report in self.history:
            if is_non_finite(report.get(metric)):
                return f"{metric} was {report[metric]} at iteration {report.get('training_iteration', '?')}"
        return None

    def best_report(self, metric: str, mode: str) -> dict | None:
        scored = [r for r in self.history if _finite(r.get(metric))]
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
        candidates = [r for r in self.history if kept(r) and _finite(r.get(metric))]
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
        self.metric: str = self.meta["metric"]
        self.mode: str = self.meta["mode"]
        self.trials: list[Trial] = _read_trials(self.path)

    def __repr__(self) -> str:
        return (
            f"Results({self.path!r}: {len(self.trials)} trials, {self.num_errors} errors, "
            f"best {self.metric}={self.best_metrics.get(self.metric) if self.best_metrics else None})"
        )

    @property
    def num_errors(self) -> int:
        return sum(t.status == "ERROR" for t in self.trials)

    @functools.cached_property
    def _best(self) -> tuple[Trial, dict] | None:
        """The best trial and its best report."""
        scored = [(t, t.best_report(self.metric, self.mode)) for t in self.trials]
        scored = [(t, r) for t, r in scored if r is not None]
        if not scored:
            return None
        pick = min if self.mode == "min" else max
        return pick(scored, key=lambda tr: tr[1][self.metric])

    @property
    def best_trial(self) -> Trial | None:
        return self._best[0] if self._best else None

    @property
    def best_metrics(self) -> dict | None:
        """The best trial's best report: every metric it reported then, with Ray's bookkeeping
        (``training_iteration``, ``time_total_s``...) but without the config."""
        if self._best is None:
            return None
        return {k: v for k, v in self._best[1].items() if k != "config"}

    @property
    def best_config(self) -> dict | None:
        if self._best is None:
            return None
        trial, report = self._best
        return report.get("config", trial.config)

    @property
    def best_checkpoint(self) -> dict | None:
        """The checkpoint dict of the best report (see the module's docstring), loaded."""
        if self._best is None:
            return None
        trial, report = self._best
        path = trial.checkpoint_path(report, self.metric, self.mode)
        return load_checkpoint_file(path) if path else None

    def dataframe(self):
        """A row per trial, best first: ``trial_id``, ``status``, ``iterations``, ``duration_s``
        (the ``time_total_s`` of its last report), ``error`` (in one line), ``non_finite``
        (``"loss was nan at iteration 3"`` where the trial was stopped for it), ``node``,
        ``config.<name>`` for every parameter (nested ones dotted), ``last.<metric>`` for
        every metric of its last report, and ``best.<metric>`` for the objective."""
        import pandas as pd

        rows = []
        for t in self.trials:
            last = t.history[-1] if t.history else {}
            best = t.best_report(self.metric, self.mode)
            row: dict[str, Any] = {
                "trial_id": t.trial_id,
                "status": t.status,
                "iterations": t.iterations,
                # Training time, not wall time: a trial restored from a checkpoint (a retry,
                # a resume, a PBT exploit) goes on from the time saved with it.
                "duration_s": last.get("time_total_s"),
                "error": t.error_line,
                "non_finite": t.non_finite(self.metric),
                # The SLURM node (or else the host) that ran the last report.
                "node": last.get("node") or last.get("hostname"),
            }
            row.update(
                {f"config.{display(k)}": v for k, v in flatten(last.get("config", t.config)).items()}
            )
            row.update({f"last.{k}": v for k, v in last.items() if is_metric(k, v)})
            row[f"best.{self.metric}"] = best[self.metric] if best else math.nan
            rows.append(row)
        frame = pd.DataFrame(rows)
        if rows:
            frame = frame.sort_values(
                f"best.{self.metric}", ascending=self.mode == "min", na_position="last"
            ).reset_index(drop=True)
        return frame


def load(path: str) -> Results:
    """Read a finished (or interrupted) experiment from its directory, without Ray."""
    return Results(path)


def read_meta(path: str) -> dict:
    meta_path = os.path.join(path, META_FILE)
    if not os.path.isdir(path):
        raise ConfigError(
            f"experiment directory {path!r} does not exist; give the directory hpo.run() created, storage/name"
        )
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except FileNotFoundError:
        if glob.glob(os.path.join(path, "experiment_state-*.json")):
            raise ConfigError(
                f"{path!r}: {META_FILE} is missing, though trials were recorded; the experiment record is damaged"
            ) from None
        raise ConfigError(
            f"{path!r} is not a raytune-hpo experiment directory (no {META_FILE}); "
            "give the directory hpo.run() created, storage/name"
        ) from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{meta_path}: cannot be read ({e}); the experiment record is damaged") from None
    missing = [key for key in _META_KEYS if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise ConfigError(f"{meta_path}: {', '.join(missing)} missing; the experiment record is damaged")
    return meta


def write_meta(path: str, meta: dict) -> None:
    os.makedirs(path, exist_ok=True)
    tmp = os.path.join(path, META_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2, default=str)
    os.replace(tmp, os.path.join(path, META_FILE))


def _read_trials(path: str) -> list[Trial]:
    """Trials as Ray's latest experiment snapshot lists them, each with its report history."""
    states = glob.glob(os.path.join(path, "experiment_state-*.json"))
    if not states:
        return []
    # The newest session by the date in its name: Ray copies every state file back into the
    # experiment directory on each save, so modification times say nothing.
    latest = max(states)
    try:
        with open(latest) as f:
            snapshot = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{latest}: cannot be read ({e}); the experiment state is damaged") from None
    trials = []
    for trial_json, runtime_json in snapshot.get("trial_data", []):
        state, runtime = json.loads(trial_json), json.loads(runtime_json)
        trial_path = os.path.join(path, state["relative_logdir"])
        error = None
        if runtime.get("error_filename"):
            error = _read_text(os.path.join(trial_path, runtime["error_filename"]))
        trials.append(
            Trial(
                trial_id=state["trial_id"],
                name=state.get("custom_trial_name") or state["relative_logdir"],
                path=trial_path,
                status=state["status"],
                config=state.get("config") or {},
                history=_read_history(os.path.join(trial_path, "result.json")),
                error=error,
            )
        )
    return trials


def _read_history(path: str) -> list[dict]:
    history = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    history.append(json.loads(line))
                except ValueError:  # a line cut by a crash mid-write: the rest is intact
                    continue
    except FileNotFoundError:
        pass
    return history


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


_RAY_FIELDS = {
    "timestamp", "done", "training_iteration", "trial_id", "date", "time_this_iter_s",
    "time_total_s", "pid", "hostname", "node_ip", "time_since_restore",
    "iterations_since_restore", "checkpoint_dir_name", "config", "experiment_tag",
}


def is_metric(key: str, value: Any) -> bool:
    return key not in _RAY_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_non_finite(value: Any) -> bool:
    """A number that is NaN or infinite (a missing or non-numeric value is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value)
