"""The reproducibility manifest of an experiment: ``manifest.json`` in its directory.

It records what is needed to run the experiment again and to trust its results: the resolved
experiment file (when it came from one), the git commit of the working directory with a dirty
flag, the versions of Python and of every library that shapes the search, the host, the seed,
and when it started and ended (each session, for a resumed experiment).

Inside a DVC repository, ``dvc`` records the data versions beside the commit: the hashes of its
``.dvc`` files and ``dvc.lock``, and whether the workspace differs from them (``dvc status``;
:mod:`raytune_hpo.tracking._dvc`), since git's dirty flag cannot see the data DVC keeps out of
git; None elsewhere. ``git`` and ``dvc`` are those of the start; each resumed session records
its own (with its working directory), since code and data may change between sessions.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from raytune_hpo.directory import MANIFEST_FILE, replace_file

LIBRARIES = (
    "raytune-hpo",
    "ray",
    "torch",
    "numpy",
    "hyperopt",
    "optuna",
    "ConfigSpace",
    "hpbandster",
    "scipy",
    "cmaes",
    "nevergrad",
)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def git_state(directory: str) -> dict | None:
    """The commit checked out in ``directory`` and whether the tree differs from it; None
    outside a git checkout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return None


def code_and_data(directory: str) -> dict[str, Any]:
    """The working directory, its git state, and its DVC state (the data versions)."""
    from raytune_hpo.tracking._dvc import dvc_state  # not at import: the tracking package imports Ray

    return {"working_directory": directory, "git": git_state(directory), "dvc": dvc_state(directory)}


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def write_manifest(
    path: str,
    seed: int | None,
    objectives: Mapping[str, Any],
    experiment: Mapping[str, Any] | None = None,
    warm_start: Mapping[str, Any] | None = None,
) -> None:
    """Write the manifest of a new experiment; its first session starts now. ``objectives``:
    its metric, mode and constraints, as ``hpo.json`` records them; ``warm_start``: the earlier
    experiments it started from, the trials used and those skipped by reason."""
    manifest = {
        "experiment": dict(experiment) if experiment is not None else None,
        "objectives": dict(objectives),
        "warm_start": dict(warm_start) if warm_start is not None else None,
        "command": sys.argv,
        **code_and_data(os.getcwd()),
        "versions": versions(),
        "host": socket.gethostname(),
        "seed": seed,
        "sessions": [{"started": _now(), "ended": None, "host": socket.gethostname()}],
    }
    _write(path, manifest)


def start_session(path: str) -> None:
    """A resumed experiment: another session starts now, from this working directory, with this
    code and data."""
    manifest = read_manifest(path)
    if manifest is not None:
        manifest["sessions"].append(
            {"started": _now(), "ended": None, "host": socket.gethostname(), **code_and_data(os.getcwd())}
        )
        _write(path, manifest)


def end_session(path: str) -> None:
    manifest = read_manifest(path)
    if manifest is not None and manifest["sessions"]:
        manifest["sessions"][-1]["ended"] = _now()
        _write(path, manifest)


def read_manifest(path: str) -> dict | None:
    try:
        with open(os.path.join(path, MANIFEST_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write(path: str, manifest: dict) -> None:
    replace_file(os.path.join(path, MANIFEST_FILE), json.dumps(manifest, indent=2, default=str).encode())
