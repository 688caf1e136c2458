"""The experiment directory, ``storage/name/``: every file's name and format, each with its one
writer and its one reader, here.

    hpo.json                   its settings and search space       write_meta / read_meta
    trials.jsonl               the journal: one line per event     Journal / read_journal
    trainable.pkl              the training function, for resume   save_trainable / load_trainable
    experiment.yaml            the experiment file, resolved       write_experiment_file
    manifest.json              versions, git commit, sessions      raytune_hpo.manifest
    hpo.lock                   held while a process runs it        raytune_hpo._lock
    hpo.reserve                space held while it runs            raytune_hpo._stop
    experiment_state-*.json    Ray Tune's snapshot, and its *.pkl  Ray Tune (copied in by raytune_hpo._ray.controller)
    trial_<n>_<id>/            params.json, result.json            write_params, ResultFile / read_results
                               TensorBoard events, checkpoints     raytune_hpo.tracking, Ray Tune

**The journal** is the record of which trials ran and how each ended: the source of truth for
:class:`~raytune_hpo.results.Results`, ``raytune-hpo show``, the report, and ``resume``. One
JSON object per line, appended, never rewritten, so that its cost per trial is the same at the
first trial and at the ten-thousandth::

    {"event": "session", "time": 1764622800.0, "kind": "run", "host": "n1", "pid": 4242}
    {"event": "start", "time": ..., "trial": "3925c_00001", "name": "trial_00001_3925c_00001", "config": {...}}
    {"event": "end", "time": ..., "trial": "3925c_00001", "status": "TERMINATED", "reports": 9,
     "iterations": 9, "best": [8, 0.031], "non_finite": null, "failures": 0}
    {"event": "drop", "time": ..., "trial": "3925c_00002"}
    {"event": "stop", "time": ..., "reason": "finished"}

``start`` comes each time a trial starts (again after a retry, a resume, a PBT exploit), with
the configuration it starts with; ``end`` once it ended, with its status (``TERMINATED``, or
``ERROR`` after its last retry), its number of reports (lines of its ``result.json``), its last
iteration, its best report (row in ``result.json`` and value of the first objective), its first
non-finite objective, and how many times it failed; with several objectives or constraints,
``last`` (the last report's objectives and constrained metrics: what stands for the trial on a
Pareto front) and ``violation`` (the largest constraint violation of its reports, 0 feasible).
``drop``: a trial that was running when the driver died and that Ray Tune's snapshot did not
hold; resume started another in its place, and it is not counted. ``session`` and ``stop``
frame each run or resume of the experiment; a session without ``stop`` ended with its driver.

Every line is flushed to the operating system as it is written (it survives the driver's
death, ``SIGKILL`` and the OOM killer included) and synced to the disk at most a second later
(it survives the node's). A line cut by a crash is skipped by the reader, and the next writer
ends it before appending. On shared parallel filesystems (GPFS, Lustre, NFS) appends from the
one process that holds the experiment's lock are safe; no file here is ever rewritten in place:
each whole file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from raytune_hpo._objectives import Objectives
from raytune_hpo._options import is_number, is_real
from raytune_hpo.errors import ConfigError, DamagedExperiment

META_FILE = "hpo.json"
JOURNAL_FILE = "trials.jsonl"
TRAINABLE_FILE = "trainable.pkl"
EXPERIMENT_FILE = "experiment.yaml"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = "hpo.lock"
RESERVE_FILE = "hpo.reserve"
PARAMS_FILE = "params.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"  # Ray Tune's record of a trial's failures, each with its traceback
RAY_STATE_PATTERN = "experiment_state-*.json"

FORMAT = 2  # of hpo.json: 2 has the journal
_META_KEYS = ("name", "metric", "mode", "seed", "resources")  # what load and resume read
SYNC_EVERY_S = 1.0


# -- whole files: written under a temporary name, renamed into place ------------------------------


def replace_file(path: str, data: bytes, sync: bool = True) -> None:
    """Write ``path`` whole: into a temporary file of the same directory, synced to the disk
    (unless ``sync`` is false), then renamed over it. A crash leaves the old file or the new
    one, never a part of either."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):  # no temporary file left where it could not be written
            os.remove(tmp)
        raise


def write_meta(path: str, meta: Mapping[str, Any]) -> None:
    os.makedirs(path, exist_ok=True)
    replace_file(os.path.join(path, META_FILE), json.dumps({"format": FORMAT, **meta}, indent=2, default=str).encode())


def read_meta(path: str) -> dict:
    """``hpo.json``, checked: a missing, foreign, damaged or older-format experiment is told in
    one line (:class:`ConfigError`)."""
    meta_path = os.path.join(path, META_FILE)
    if not os.path.isdir(path):
        raise ConfigError(
            f"experiment directory {path!r} does not exist; give the directory hpo.run() created, storage/name"
        )
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except FileNotFoundError:
        if os.path.exists(os.path.join(path, JOURNAL_FILE)) or glob.glob(os.path.join(path, RAY_STATE_PATTERN)):
            raise DamagedExperiment(
                f"{path!r}: {META_FILE} is missing, though trials were recorded; the experiment record is damaged"
            ) from None
        raise ConfigError(
            f"{path!r} is not a raytune-hpo experiment directory (no {META_FILE}); "
            "give the directory hpo.run() created, storage/name"
        ) from None
    except (OSError, ValueError) as e:
        raise DamagedExperiment(f"{meta_path}: cannot be read ({e}); the experiment record is damaged") from None
    missing = [key for key in _META_KEYS if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise DamagedExperiment(f"{meta_path}: {', '.join(missing)} missing; the experiment record is damaged")
    if meta.get("format", 1) < FORMAT:
        raise ConfigError(
            f"{path!r} was written by raytune-hpo 0.1, before trials were journaled (no {JOURNAL_FILE}); "
            "read it with that version, or run the experiment again"
        )
    return meta


def write_experiment_file(path: str, experiment: Mapping[str, Any]) -> None:
    import yaml

    replace_file(
        os.path.join(path, EXPERIMENT_FILE),
        yaml.safe_dump(dict(experiment), sort_keys=False, default_flow_style=None).encode(),
    )


def save_trainable(path: str, trainable: Callable) -> None:
    """The function, for resume(): by reference where importable, by value from ``__main__``."""
    import cloudpickle

    os.makedirs(path, exist_ok=True)
    replace_file(os.path.join(path, TRAINABLE_FILE), cloudpickle.dumps(trainable))


def load_trainable(path: str, meta: Mapping[str, Any]) -> Callable:
    """The function :func:`save_trainable` kept; its module is looked for where it was imported
    from when the experiment started, then in the working directory."""
    import cloudpickle

    for directory in (meta.get("trainable_dir"), os.getcwd()):
        if directory and directory not in sys.path:
            sys.path.insert(0, directory)
    try:
        with open(os.path.join(path, TRAINABLE_FILE), "rb") as f:
            return cloudpickle.load(f)
    except FileNotFoundError:
        raise DamagedExperiment(f"{path!r}: {TRAINABLE_FILE} is missing; the experiment record is damaged") from None
    except Exception as e:  # an import error inside the user's module, most often; or the file cut short
        reason = (str(e).strip().splitlines() or [""])[0]
        message = (
            f"{path!r}: cannot load the trainable {meta.get('trainable')} from {TRAINABLE_FILE} "
            f"({type(e).__name__}: {reason})"
        )
        if isinstance(e, (EOFError, pickle.UnpicklingError)):
            raise DamagedExperiment(f"{message}; the experiment record is damaged") from None
        raise ConfigError(message) from None


# -- files appended line by line -----------------------------------------------------------------


def _open_for_appending(path: str) -> IO[str]:
    """``path`` opened to append lines; a last line a crash cut short is ended first, or the next
    line would be lost with it."""
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            cut = f.read(1) != b"\n"
    except OSError:  # no file yet, or an empty one
        cut = False
    file = open(path, "a")
    if cut:
        file.write("\n")
    return file


def _lines(path: str) -> Iterator[dict]:
    """The JSON objects of a file of lines; a line that does not parse (cut by a crash) is
    skipped, the lines after it are read. No file: nothing."""
    try:
        with open(path) as f:
            for line in f:
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    yield value
    except FileNotFoundError:
        return


def to_json(record: Mapping[str, Any]) -> str:
    """One line of JSON: NumPy scalars and arrays as numbers and lists, anything else that JSON
    has no form for as its ``str`` (Ray's own loggers do the same)."""
    return json.dumps(record, default=jsonable)


def jsonable(value: Any) -> Any:
    """What JSON cannot hold, as the experiment's files hold it: numpy values as numbers and
    lists, anything else as its ``str``."""
    item, tolist = getattr(value, "item", None), getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if callable(item):
        return item()
    return str(value)


def as_json(value: Any) -> Any:
    """``value`` as the experiment's files hold it, read back: JSON's types, numpy's values as
    numbers and lists, anything else as its ``str`` (:func:`jsonable`)."""
    return json.loads(json.dumps(value, default=jsonable))


class ResultFile:
    """A trial's ``result.json``: every report, one JSON line each, appended in the trial's
    directory in the experiment's storage. A trial restarted from a checkpoint (a retry, a
    resume, a PBT exploit) adds its rows after the earlier ones."""

    def __init__(self, trial_dir: str):
        os.makedirs(trial_dir, exist_ok=True)
        self._file = _open_for_appending(os.path.join(trial_dir, RESULT_FILE))

    def append(self, report: Mapping[str, Any]) -> None:
        self._file.write(to_json(report) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def write_params(trial_dir: str, config: Mapping[str, Any]) -> None:
    """The trial's ``params.json``: its configuration as it (last) started."""
    os.makedirs(trial_dir, exist_ok=True)
    replace_file(
        os.path.join(trial_dir, PARAMS_FILE),
        json.dumps(config, indent=2, sort_keys=True, default=jsonable).encode(),
        sync=False,
    )


def read_results(trial_dir: str) -> list[dict]:
    """Every report of a trial, in order (see :class:`ResultFile`)."""
    return list(_lines(os.path.join(trial_dir, RESULT_FILE)))


def read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


# -- the journal ---------------------------------------------------------------------------------


class EndSummary:
    """What a trial's ``end`` event says of its reports, followed one report at a time:
    how many, its last iteration, its best (row and value of the first objective, by its
    mode) and its first non-finite objective. With several objectives or constraints, also
    ``last``: its last report's objectives and constrained metrics, and ``violation``: the
    largest constraint violation of any report (:mod:`raytune_hpo._objectives`)."""

    def __init__(self, objectives: Objectives):
        self.objectives = objectives
        self.metric, self.mode = objectives.primary, objectives.primary_mode
        self.reports = self.iterations = 0
        self.best: tuple[int, float] | None = None
        self.non_finite: str | None = None
        self.last: dict[str, Any] = {}
        self.violation = 0.0

    def add(self, report: Mapping[str, Any]) -> None:
        value: Any = report.get(self.metric)  # whatever the trainable reported; is_number checks it
        iteration = report.get("training_iteration", self.reports + 1)
        if is_number(value) and (
            self.best is None or (value < self.best[1] if self.mode == "min" else value > self.best[1])
        ):
            self.best = (self.reports, float(value))
        if self.non_finite is None:
            for metric in self.objectives.metrics:
                if is_real(report.get(metric)) and not is_number(report.get(metric)):
                    self.non_finite = f"{metric} was {report[metric]} at iteration {iteration}"
                    break
        if self.objectives.compound:
            self.last = {m: report.get(m) for m in self.objectives.reported}
            self.violation = max(self.violation, self.objectives.violation(report))
        self.reports += 1
        self.iterations = iteration

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "reports": self.reports,
            "iterations": self.iterations,
            "best": self.best,
            "non_finite": self.non_finite,
        }
        if self.objectives.compound:
            fields.update(last=self.last, violation=self.violation)
        return fields


class Journal:
    """The writer of ``trials.jsonl`` (see the module's docstring): one per experiment and
    process, shared by whatever records events of that experiment; safe across threads."""

    def __init__(self, path: str):
        self.path = path
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self._synced = 0.0

    def __getstate__(self) -> dict:  # pickled with Ray's callbacks: the open file stays behind
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        type(self).__init__(self, state["path"])

    def write(self, event: str, **fields: Any) -> None:
        line = to_json({"event": event, "time": round(time.time(), 3), **fields}) + "\n"
        with self._lock:
            if self._file is None:
                self._file = _open_for_appending(os.path.join(self.path, JOURNAL_FILE))
            self._file.write(line)
            self._file.flush()
            now = time.monotonic()
            if now - self._synced >= SYNC_EVERY_S:
                os.fsync(self._file.fileno())
                self._synced = now

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None


@dataclass
class TrialRecord:
    """A trial as the journal tells it."""

    trial_id: str
    name: str
    config: dict
    status: str = "RUNNING"  # started and not ended; TERMINATED or ERROR once ended
    starts: int = 0
    ends: int = 0  # more than one: it ran again after it had ended (a retry of a failed trial)
    reports: int | None = None  # once ended: its rows in result.json
    iterations: int | None = None  # once ended: its last training iteration
    best: tuple[int, float] | None = None  # once ended: (row in result.json, objective)
    non_finite: str | None = None
    failures: int = 0
    started: float | None = None  # its first start
    ended: float | None = None
    # once ended, with several objectives or constraints: its last report's objectives and
    # constrained metrics, and the largest violation of any report (raytune_hpo._objectives)
    last: dict | None = None
    violation: float | None = None


@dataclass
class JournalContents:
    """What :func:`read_journal` read: the trials (dropped ones left out) in the order they
    first started, and the sessions, each ``{"kind", "time", "host", "pid", "stop"}`` (``stop``
    the stop event, or None for a session whose driver died, or that is running)."""

    trials: dict[str, TrialRecord] = field(default_factory=dict)
    sessions: list[dict] = field(default_factory=list)
    dropped: dict[str, TrialRecord] = field(default_factory=dict)

    @property
    def stop(self) -> dict | None:
        """The stop event of the last session, None if it has none."""
        return self.sessions[-1]["stop"] if self.sessions else None


def read_journal(path: str) -> JournalContents:
    """``trials.jsonl`` read back: every event in order, the last word on each trial winning."""
    journal_path = os.path.join(path, JOURNAL_FILE)
    if not os.path.exists(journal_path):
        raise DamagedExperiment(f"{path!r}: {JOURNAL_FILE} is missing; the experiment record is damaged")
    contents = JournalContents()
    trials = contents.trials
    for record in _lines(journal_path):
        event, trial_id = record.get("event"), record.get("trial")
        if event == "start" and isinstance(trial_id, str):
            trial = trials.get(trial_id) or contents.dropped.pop(trial_id, None)
            if trial is None:
                trial = TrialRecord(trial_id, str(record.get("name", trial_id)), {})
            trials[trial_id] = trial
            trial.config = record.get("config") or {}
            trial.status, trial.ended = "RUNNING", None
            trial.started = trial.started or record.get("time")
            trial.starts += 1
        elif event == "end" and trial_id in trials:
            trial = trials[trial_id]
            trial.status = str(record.get("status", "TERMINATED"))
            trial.reports, trial.iterations = record.get("reports"), record.get("iterations")
            best = record.get("best")
            trial.best = (int(best[0]), float(best[1])) if isinstance(best, list) and len(best) == 2 else None
            trial.non_finite, trial.failures = record.get("non_finite"), int(record.get("failures") or 0)
            trial.ended = record.get("time")
            trial.last, trial.violation = record.get("last"), record.get("violation")
            trial.ends += 1
        elif event == "drop" and trial_id in trials:
            contents.dropped[trial_id] = trials.pop(trial_id)
        elif event == "session":
            contents.sessions.append({**{k: v for k, v in record.items() if k != "event"}, "stop": None})
        elif event == "stop" and contents.sessions:
            contents.sessions[-1]["stop"] = record
    return contents


# -- Ray Tune's snapshot, as far as resume checks it --------------------------------------------


def ray_state_file(path: str) -> str | None:
    """Ray Tune's newest experiment state in ``path`` (as Ray picks it: by name), or None."""
    states = glob.glob(os.path.join(path, RAY_STATE_PATTERN))
    return max(states) if states else None


def read_ray_trials(path: str) -> dict[str, str]:
    """The trials of Ray Tune's newest snapshot, by id, with their status there; a damaged
    snapshot is told in one line."""
    state = ray_state_file(path)
    if state is None:
        return {}
    try:
        with open(state) as f:
            snapshot = json.load(f)
        trials = {}
        for trial_json, _runtime in snapshot["trial_data"]:
            trial = json.loads(trial_json)
            trials[trial["trial_id"]] = trial["status"]
        return trials
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DamagedExperiment(f"{state}: cannot be read ({e}); the experiment state is damaged") from None
