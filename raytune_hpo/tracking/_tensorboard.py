"""TensorBoard event files for every trial, its hyperparameters there from its first step.

Ray's own TensorBoard logger writes a trial's hyperparameters only when the trial ends, and
only the searched ones of simple types. :class:`TensorBoardLog` writes, in each trial's
directory in the experiment's storage (beside ``result.json``):

- when the trial starts, the HParams plugin's experiment declaration (every configuration
  value by its dotted name, with its type; the metrics: the objective, then every numeric
  metric any trial has reported so far) and the session start (the trial's values: constants
  and nested values included; lists, dicts, ``None`` and other objects as their ``str``);
- at each report, one scalar per numeric metric, at step ``training_iteration``, with the
  time the report arrived as its wall time;
- when the trial ends, the session end: success (finished or stopped early) or failure.

Each write appends to the event file and closes it, so every report is on disk as soon as it
arrives and no file stays open: not in a paused trial, not in the callback pickled with the
Tuner. A trial that starts again (retry, resume, PBT exploit) writes a new event file in the
same directory; nothing written before is touched. TensorBoard reads the events of a
directory in file-name order, and names start with the creation time.

What TensorBoard shows: it keeps, per run and tag, the first metadata it reads, and its
HParams plugin takes the experiment declaration of one run. So the HParams of a trial are
those it started with (a PBT trial's later configurations are in the session starts written
on each restart, and in ``params.json``/``result.json``), and a metric first reported after
the earliest trials started is declared by the trials started later; the objective is always
declared.
"""

from __future__ import annotations

import numbers
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from ray.tune import Callback
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2, summary_v2
from tensorboard.summary.writer.record_writer import RecordWriter

from raytune_hpo._objectives import Objectives
from raytune_hpo._options import is_real
from raytune_hpo.results import is_metric
from raytune_hpo.space import dotted, flatten

HParamValue = bool | float | str


class TensorBoardLog(Callback):
    """Writes each trial's scalars and HParams; ``objectives`` are the experiment's, declared
    first among HParams' metrics, every one of them."""

    def __init__(self, objectives: Objectives) -> None:
        self._metrics: list[str] = list(objectives.reported)  # declared in this order: the objectives first
        self._event_files: dict[str, str] = {}  # trial id -> the event file of its current start

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._start(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        scalars = metric_values(result)
        self._metrics += [name for name in scalars if name not in self._metrics]
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=v) for tag, v in scalars.items()])
        # Ray starts a trial before its first result; should it not, the result is kept anyway.
        path = self._event_files.get(trial.trial_id) or self._start(trial)
        _append(path, Event(wall_time=time.time(), step=result["training_iteration"], summary=summary))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._end(trial, api_pb2.STATUS_SUCCESS)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._end(trial, api_pb2.STATUS_FAILURE)

    def _start(self, trial) -> str:
        directory = trial.storage.trial_fs_path
        os.makedirs(directory, exist_ok=True)
        now = time.time()
        path = os.path.join(directory, f"events.out.tfevents.{now:.6f}.{socket.gethostname()}")
        self._event_files[trial.trial_id] = path
        hparams = hparam_values(trial.config)
        experiment = api_pb2.Experiment(
            hparam_infos=[_hparam_info(name, value) for name, value in hparams.items()],
            metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in self._metrics],
            time_created_secs=now,
        )
        _append(
            path,
            Event(wall_time=now, file_version="brain.Event:2"),
            Event(wall_time=now, summary=_hparams_summary(metadata.EXPERIMENT_TAG, experiment=experiment)),
            # The group is the trial: trials that share a configuration stay separate rows.
            Event(
                wall_time=now,
                summary=summary_v2.hparams_pb(hparams, trial_id=trial.storage.trial_dir_name, start_time_secs=now),
            ),
        )
        return path

    def _end(self, trial, status: int) -> None:
        path = self._event_files.pop(trial.trial_id, None)
        if path is None:  # ended before it started (stopped while pending)
            return
        now = time.time()
        end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=now)
        _append(
            path, Event(wall_time=now, summary=_hparams_summary(metadata.SESSION_END_INFO_TAG, session_end_info=end))
        )


def hparam_values(config: Mapping[str, Any]) -> dict[str, HParamValue]:
    """The configuration as HParams values: nested keys dotted (``opt.lr``), numbers as
    floats, bools and strings as they are, anything else (a list, ``None``, an empty dict, an
    object) as its ``str``."""
    values: dict[str, HParamValue] = {}
    for name, value in dotted(config).items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, str)):
            values[name] = value
        elif isinstance(value, numbers.Real):
            values[name] = float(value)
        else:
            values[name] = str(value)
    return values


def metric_values(result: Mapping[str, Any]) -> dict[str, float]:
    """A report's numeric metrics (Ray's bookkeeping left out), nested ones joined with
    ``/``: TensorBoard groups tags by what comes before the first ``/``."""
    reported = flatten({k: v for k, v in result.items() if k != "config"})
    return {tag: float(value) for tag, value in reported.items() if is_real(value) and is_metric(tag, float(value))}


def _hparam_info(name: str, value: HParamValue) -> api_pb2.HParamInfo:
    """The declared type of a hyperparameter. Strings get no domain: a declared domain
    would become the HParams view's filter, and hide trials started later with other values."""
    if isinstance(value, bool):
        info = api_pb2.HParamInfo(name=name, type=api_pb2.DATA_TYPE_BOOL)
        info.domain_discrete.extend([False, True])
        return info
    kind = api_pb2.DATA_TYPE_FLOAT64 if isinstance(value, float) else api_pb2.DATA_TYPE_STRING
    return api_pb2.HParamInfo(name=name, type=kind)


def _hparams_summary(tag: str, **data: Any) -> Summary:
    """A summary of the HParams plugin: its data in the metadata, the value empty."""
    content = plugin_data_pb2.HParamsPluginData(**data)
    return Summary(
        value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(content), tensor=metadata.NULL_TENSOR)]
    )


def _append(path: str, *events: Event) -> None:
    with open(path, "ab") as file:
        writer = RecordWriter(file)
        for event in events:
            writer.write(event.SerializeToString())
