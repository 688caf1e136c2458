"""DVC: the versions of the data an experiment used, in its manifest, and its result in the
files ``dvc params diff`` and ``dvc metrics show`` read.

**Recorded** (:func:`dvc_state`, the manifest's ``dvc``, beside its ``git``): when the working
directory is inside a DVC repository, the hashes its ``.dvc`` files and ``dvc.lock`` files
hold (the data versions the git commit points at) and whether the workspace differs from them
(``dvc status``), since git's dirty flag cannot see data DVC keeps out of git::

    {"root": "/home/me/digits",
     "files": {"data/raw.dvc": [{"path": "raw", "md5": "…dir", "hash": "md5", "size": 123, "nfiles": 9}]},
     "lock": {"prepare": {"deps": [{"path": "data/raw", "md5": "…dir", …}], "outs": […]},
              "sub/dvc.yaml:train": {…}},
     "unreadable": {},
     "status": {"changed": true, "differences": {"data/raw.dvc": [{"changed outs": {"data/raw": "modified"}}]}}}

- The root is found as DVC finds it: the nearest folder holding ``.dvc/``, from the working
  directory up to its mount point or the filesystem's root (DVC does not stop at a git root).
- The ``.dvc`` and ``dvc.lock`` files are those git sees (``git ls-files``: tracked, or new and
  not ignored; fast on a big repository, and the experiment storage and virtual environments
  are usually ignored); outside git, a walk of the root that skips ``.git``, ``.dvc``,
  virtual environments, caches and experiment directories, and stops after
  :data:`MAX_WALK_DIRS` folders. ``.dvcignore`` is not read. At most :data:`MAX_FILES` are
  recorded (``omitted`` counts the rest). A file that cannot be read is in ``unreadable``.
- Files are read as YAML here: recording needs no ``dvc`` package. ``status`` needs it (the
  ``dvc`` extra): ``dvc status --json`` (this Python's ``python -m dvc`` where it has the
  package, else ``dvc`` on PATH; no usage report sent), run in the root with
  :data:`STATUS_TIMEOUT_S`, gives ``changed`` and what differs; without DVC, on a timeout or
  a failure, ``changed`` is null and ``why`` says why. Run by ``dvc repro``/``dvc exp run``
  as a stage (``DVC_STAGE`` set), it is not run (DVC holds the repository's lock, and records
  the stage's dependencies in ``dvc.lock`` itself when it ends): ``stage`` names the stage.

Nothing here raises: the manifest is written anyway.

**Written** (:func:`write_params_metrics`, ``raytune-hpo export DIR --params params.yaml
--metrics metrics.json [--trial ID]``): the best trial's configuration, nested as it is, as a
params file, and the metrics of its report that stands for it as a metrics file, so that the
tuned result is committed and compared like any DVC experiment::

    # params.yaml                      # metrics.json
    opt:                               {"trial_id": "3925c_00001", "training_iteration": 9,
      lr: 0.0123                        "val_loss": 0.031, "accuracy": 0.99}
      name: adam
    layers: [64, 64]

The report that stands for a trial is its best one with one objective (``best_config`` and
``best_metrics``: the configuration in force then, for PBT), its last with several (as on the
Pareto front). With several objectives there is no single best: ``--trial`` chooses the trial.
The metrics are the report's numbers (Ray's bookkeeping left out), after ``trial_id`` and
``training_iteration``. The format follows the suffix: ``.yaml``/``.yml``, ``.json`` (a value
that is not finite written null); values as the experiment's files hold them (numpy's as
numbers and lists, any other object as its ``str``). ``dvc params diff``
reads ``params.yaml`` at the root by default; another params file, and any metrics file, is
declared in ``dvc.yaml`` (``params: [best.json]``, ``metrics: [metrics.json]``); a metrics
file may also be named on the command line (``dvc metrics show metrics.json``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from raytune_hpo.directory import as_json, replace_file
from raytune_hpo.errors import ConfigError

if TYPE_CHECKING:
    from raytune_hpo.results import Results, Trial

STATUS_TIMEOUT_S = 60
"""``dvc status`` hashes the files whose size or time changed: long on a big changed dataset."""
MAX_WALK_DIRS = 10_000
"""Folders walked outside git before giving up on finding more ``.dvc`` files."""
MAX_FILES = 2_000
"""``.dvc`` and ``dvc.lock`` files recorded at most: the manifest stays small."""
GIT_TIMEOUT_S = 30
OUT_FIELDS = ("path", "hash", "md5", "etag", "checksum", "version_id", "size", "nfiles")
"""What identifies an output's version in a ``.dvc`` file or ``dvc.lock``; the rest (``cache``,
``persist``, ``desc``...) says how DVC handles it, not which data it is."""
_SKIP_DIRS = frozenset(
    {".git", ".dvc", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}
)  # fmt: skip
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when built with it: many files


def find_root(directory: str) -> str | None:
    """The DVC repository ``directory`` is in, as ``dvc`` finds it (``Repo.find_root``): the
    nearest folder up holding ``.dvc/``, not past a mount point; None outside one."""
    path = os.path.abspath(directory)
    while True:
        if os.path.isdir(os.path.join(path, ".dvc")):
            return path
        parent = os.path.dirname(path)
        if parent == path or os.path.ismount(path):
            return None
        path = parent


def dvc_state(directory: str) -> dict | None:
    """The data versions of the DVC repository ``directory`` is in, and whether the workspace
    differs from them (see the module's docstring); None outside a DVC repository. Never
    raises."""
    try:
        root = find_root(directory)
    except Exception:  # an unreadable folder up the way: not in a repository we can read
        return None
    if root is None:
        return None
    try:
        return _state(root)
    except Exception as e:  # the manifest is written anyway, saying what went wrong
        return {"root": root, "error": f"{type(e).__name__}: {e}"}


def _state(root: str) -> dict:
    files: dict[str, list[dict]] = {}
    lock: dict[str, dict] = {}
    unreadable: dict[str, str] = {}
    found = sorted(_dvc_files(root))
    for relpath in found[:MAX_FILES]:
        try:
            with open(os.path.join(root, relpath), encoding="utf-8") as f:
                content = yaml.load(f, Loader=_Loader)  # the C or Python *safe* loader
            if os.path.basename(relpath) == "dvc.lock":
                lock.update(_lock_stages(relpath, content))
            else:
                files[relpath] = _outs(content.get("outs"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, TypeError) as e:
            # deleted but still in git's index, damaged, or not a mapping
            unreadable[relpath] = getattr(e, "strerror", None) or f"{type(e).__name__}: {e}".splitlines()[0]
    state: dict[str, Any] = {"root": root, "files": files, "lock": lock, "unreadable": unreadable}
    if len(found) > MAX_FILES:
        state["omitted"] = len(found) - MAX_FILES
    state["status"] = _status(root)
    return state


def _dvc_files(root: str) -> Iterator[str]:
    """The paths, relative to ``root``, of its ``.dvc`` and ``dvc.lock`` files."""

    def wanted(path: str) -> bool:
        parts = path.split("/")
        return ".dvc" not in parts[:-1] and (parts[-1].endswith(".dvc") or parts[-1] == "dvc.lock")

    try:  # tracked, or new and not ignored; paths relative to the current folder, root
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.dvc", "*dvc.lock"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        ).stdout.decode("utf-8", "surrogateescape")
    except (OSError, subprocess.SubprocessError):  # no git, or not a git work tree
        yield from _walk(root)
        return
    seen = set()
    for path in listed.split("\0"):
        if path and path not in seen and wanted(path) and os.path.isfile(os.path.join(root, path)):
            seen.add(path)
            yield os.path.normpath(path)


def _walk(root: str) -> Iterator[str]:
    visited = 0
    for folder, dirs, names in os.walk(root):
        visited += 1
        if visited > MAX_WALK_DIRS:
            return
        if folder != root and ("pyvenv.cfg" in names or "hpo.json" in names):
            dirs[:] = []  # a virtual environment, an experiment directory: thousands of files, no data version
            continue
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in names:
            if name.endswith(".dvc") or name == "dvc.lock":
                yield os.path.relpath(os.path.join(folder, name), root)


def _outs(entries: Any) -> list[dict]:
    if not isinstance(entries, list):
        return []
    return [{k: e[k] for k in OUT_FIELDS if k in e} for e in entries if isinstance(e, Mapping)]


def _lock_stages(relpath: str, content: Any) -> dict[str, dict]:
    """Each stage's deps and outs, named as ``dvc status`` names them: ``prepare`` at the
    root, ``sub/dvc.yaml:prepare`` elsewhere. ``dvc.lock`` of DVC 1 has no ``schema``."""
    if not isinstance(content, Mapping):
        raise TypeError("not a mapping")
    stages = content.get("stages", {}) if "schema" in content else content
    folder = os.path.dirname(relpath)
    prefix = f"{os.path.join(folder, 'dvc.yaml')}:" if folder else ""
    return {
        f"{prefix}{name}": {"deps": _outs(stage.get("deps")), "outs": _outs(stage.get("outs"))}
        for name, stage in (stages or {}).items()
        if isinstance(stage, Mapping)
    }


def _dvc_command() -> list[str] | None:
    """DVC of this Python's environment (the ``dvc`` extra) if it has one, else the one on PATH."""
    if importlib.util.find_spec("dvc") is not None:
        return [sys.executable, "-m", "dvc"]
    found = shutil.which("dvc")
    return [found] if found else None


def _status(root: str) -> dict:
    stage, stage_root = os.environ.get("DVC_STAGE"), os.environ.get("DVC_ROOT")
    if stage and stage_root and os.path.realpath(stage_root) == os.path.realpath(root):
        return {
            "changed": None,
            "why": f"run by DVC as stage {stage!r}: DVC holds the repository's lock, and records the "
            "stage's dependencies in dvc.lock when it ends",
            "stage": stage,
        }
    command = _dvc_command()
    if command is None:
        return {"changed": None, "why": "dvc is not installed: pip install 'raytune-hpo[dvc]'"}
    try:
        done = subprocess.run(
            [*command, "status", "--json"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=STATUS_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            # Run behind the user's back: no usage report sent from here.
            env={**os.environ, "DVC_NO_ANALYTICS": "1"},
        )
    except subprocess.TimeoutExpired:
        return {"changed": None, "why": f"dvc status took over {STATUS_TIMEOUT_S} s; stopped"}
    except OSError as e:
        return {"changed": None, "why": f"dvc status could not start: {e.strerror or e}"}
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        return {"changed": None, "why": f"dvc status failed: {lines[0][:300] if lines else f'exit {done.returncode}'}"}
    try:
        differences = json.loads(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}")
    except ValueError:
        return {"changed": None, "why": f"dvc status --json printed no JSON: {done.stdout.strip()[:300]!r}"}
    return {"changed": bool(differences), "differences": differences}


# -- params and metrics files --------------------------------------------------------------

SUFFIXES = (".yaml", ".yml", ".json")


def write_params_metrics(
    results: Results, params: str | None, metrics: str | None, trial_id: str | None = None
) -> list[str]:
    """Write the configuration of the best trial (or of ``trial_id``) to ``params`` and the
    metrics of its report that stands for it to ``metrics`` (either may be None), in the form
    ``dvc params diff`` and ``dvc metrics show`` read (see the module's docstring); return the
    paths written."""
    targets = [(field, os.path.abspath(path)) for field, path in (("--params", params), ("--metrics", metrics)) if path]
    if not targets:
        raise ConfigError("--params, --metrics: give at least one file to write")
    for field, path in targets:
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in SUFFIXES:
            which = f"unknown suffix {suffix!r}" if suffix else "no suffix"
            raise ConfigError(f"{field}: cannot write {path!r}: {which}; use .yaml, .yml or .json")
    if len(targets) == 2 and targets[0][1] == targets[1][1]:
        raise ConfigError(f"--metrics: {targets[1][1]!r} is the --params file too; give each its own file")
    trial, report = _chosen(results, trial_id)
    contents = {
        "--params": report.get("config", trial.config),
        "--metrics": _metrics(trial, report),
    }
    written = []
    for field, path in targets:
        text = _dump(as_json(contents[field]), os.path.splitext(path)[1].lower())
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            replace_file(path, text.encode("utf-8"), sync=False)
        except OSError as e:
            raise ConfigError(f"{field}: cannot write {path!r} ({e.strerror}); choose a writable path") from None
        written.append(path)
    return written


def _chosen(results: Results, trial_id: str | None) -> tuple[Trial, dict]:
    """The trial to export and its report that stands for it."""
    objectives = results.objectives
    metric, mode = objectives.primary, objectives.primary_mode
    if trial_id is None:
        if objectives.several:
            front = list(results.pareto_front()["trial_id"])
            shown = ", ".join(front[:10]) + (f" ... ({len(front)} in all)" if len(front) > 10 else "")
            raise ConfigError(
                f"--trial: this experiment has {len(objectives.metrics)} objectives ({', '.join(objectives.metrics)}), "
                f"so no single best; choose a trial of its Pareto front with --trial ID: {shown or 'none yet'} "
                "(res.pareto_front())"
            )
        trial = results.best_trial
        report = trial.best_report(metric, mode) if trial is not None else None
        if trial is None or report is None:
            raise ConfigError(
                f"{results.path}: no trial has reported a finite {metric} yet; there is nothing to export"
            )
        return trial, report
    trial = next((t for t in results.trials if t.trial_id == trial_id), None)
    if trial is None:
        ids = [t.trial_id for t in results.trials]
        shown = ", ".join(ids[:10]) + (
            f" ... ({len(ids)} in all; raytune-hpo export DIR lists them)" if ids[10:] else ""
        )
        raise ConfigError(f"--trial: no trial {trial_id!r} in the experiment; its trials are {shown or 'none yet'}")
    if objectives.several:
        report = trial.history[-1] if trial.history else None
        if report is None:
            raise ConfigError(f"--trial: trial {trial_id!r} reported nothing; choose another")
    else:
        report = trial.best_report(metric, mode)
        if report is None:
            raise ConfigError(f"--trial: trial {trial_id!r} reported no finite {metric}; choose another")
    return trial, report


def _metrics(trial: Trial, report: Mapping[str, Any]) -> dict[str, Any]:
    from raytune_hpo.results import is_metric

    return {
        "trial_id": trial.trial_id,
        "training_iteration": report.get("training_iteration"),
        **{k: v for k, v in report.items() if is_metric(k, v)},
    }


def _dump(data: Any, suffix: str) -> str:
    if suffix == ".json":
        return json.dumps(_finite_or_null(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _finite_or_null(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(v) for v in value]
    return value
