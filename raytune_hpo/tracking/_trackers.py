"""The trackers an experiment can log to besides its own record and TensorBoard (always on):
each declared once, with its options as a table (:mod:`raytune_hpo._options`), the library it
needs and the extra that installs it, and the Ray Tune callback that does the logging.

``tracking=`` of :func:`raytune_hpo.run` (``tracking:`` in an experiment file) maps a tracker's
name to its options; :func:`check_tracking` checks them in one place (an unknown tracker or
option, a wrong type, a missing library: one line naming the field), and
:func:`tracking_callbacks` builds the callbacks of a run or resume from what ``hpo.json`` kept::

    >>> check_tracking("tracking", {"mlflow": {"experiment": "digits"}})
    {'mlflow': {'tracking_uri': None, 'experiment': 'digits'}}
    >>> check_tracking("tracking", {"wandb": {"mode": "offlin"}})
    Traceback (most recent call last):
    ...
    raytune_hpo.errors.ConfigError: tracking.wandb.mode: must be 'online' or 'offline' or 'disabled', got 'offlin'

Every callback is built as ``Callback(path, meta, **options)``: the experiment's directory, its
``hpo.json`` settings (name, objectives, ...), and the checked options. Nothing secret is an
option: credentials stay in each tool's own environment variables or configuration files, so
that they never reach ``hpo.json``, the manifest or the logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raytune_hpo._library import call_factory, require
from raytune_hpo._options import REQUIRED, Option, OptionTable
from raytune_hpo.errors import ConfigError


def _path(field: str, value: Any) -> str | None:
    """A file path, made absolute now: a resume from another directory writes to the same file."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(f"{field}: must be a file path, got {value!r}")
    return os.path.abspath(os.fspath(value))


@dataclass(frozen=True)
class Tracker:
    """One tracker: ``callback`` is ``"module:Class"``, imported when an experiment uses it."""

    name: str
    options: OptionTable
    module: str  # the library it needs
    extra: str  # the extra of raytune-hpo that installs it
    callback: str
    credentials: str = ""  # where the tool's own credentials go, said to whoever gives them as an option
    ready: str = ""  # "module:function" of the checked options: what can only be checked with the library


TRACKERS: dict[str, Tracker] = {
    tracker.name: tracker
    for tracker in (
        Tracker(
            "mlflow",
            OptionTable([Option("tracking_uri", str), Option("experiment", str)]),
            "mlflow",
            "mlflow",
            "raytune_hpo.tracking._mlflow:MLflowLog",
            "MLflow reads them from MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD",
        ),
        Tracker(
            "wandb",
            OptionTable(
                [
                    Option("project", str),
                    Option("entity", str),
                    # None: W&B's WANDB_MODE (cluster jobs often export it), else online
                    Option("mode", str, choices=("online", "offline", "disabled")),
                    Option("group", str),
                ]
            ),
            "wandb",
            "wandb",
            "raytune_hpo.tracking._wandb:WandbLog",
            "W&B reads the key from WANDB_API_KEY or from `wandb login`",
            "raytune_hpo.tracking._wandb:check_credentials",
        ),
        Tracker(
            "optuna",
            OptionTable(
                [
                    Option(
                        "journal",
                        str,
                        default=REQUIRED,
                        check=_path,
                        help="the journal file to write, e.g. 'study.log'",
                    ),
                    Option("study", str),
                ]
            ),
            "optuna",
            "dashboard",
            "raytune_hpo.tracking._optuna_study:OptunaStudyLog",
        ),
    )
}


def check_tracking(field: str, value: Any) -> dict[str, dict[str, Any]]:
    """``value`` checked: each tracker known, its options valid, its library importable."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{field}: must be a mapping like {{'mlflow': {{...}}}}, got {value!r}")
    checked = {}
    for name, options in value.items():
        tracker = TRACKERS.get(name)
        if tracker is None:
            raise ConfigError(
                f"{field}.{name}: unknown tracker; the trackers are {', '.join(TRACKERS)} (TensorBoard is always on)"
            )
        where = f"{field}.{name}"
        if not isinstance(options, Mapping):
            names = ", ".join(o.name for o in tracker.options)
            raise ConfigError(f"{where}: must be a mapping of {names}, got {options!r}")
        secret = next((key for key in options if key not in tracker.options.options and _secret(key)), None)
        if secret is not None and tracker.credentials:
            raise ConfigError(
                f"{where}.{secret}: credentials are never an option (they would be written into the "
                f"experiment's files); {tracker.credentials}"
            )
        missing = [o for o in tracker.options if o.required and o.name not in options]
        if missing:
            raise ConfigError(f"{where}.{missing[0].name}: required: {missing[0].help}")
        checked[name] = tracker.options.check(options, field=where, owner=f"tracker {name!r}")
        require(tracker.module, tracker.extra, f"{where}")
        if tracker.ready:
            call_factory(tracker.ready, checked[name])
    return checked


def _secret(key: Any) -> bool:
    return any(word in str(key).lower() for word in ("key", "token", "password", "secret"))


def tracking_callbacks(path: str, meta: Mapping[str, Any]) -> list:
    """The callbacks of the trackers ``hpo.json`` names, for a run or a resume."""
    return [
        call_factory(TRACKERS[name].callback, path, meta, **options)
        for name, options in (meta.get("tracking") or {}).items()
    ]
