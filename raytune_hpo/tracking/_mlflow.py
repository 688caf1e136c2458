"""Every trial as an MLflow run: its parameters (nested ones dotted), the history of every
numeric metric (step = training iteration), its status, and tags naming the experiment and the
trial. A resumed or retried trial continues its run (found by its ``trial_id`` tag).

Credentials stay in MLflow's own environment variables (``MLFLOW_TRACKING_TOKEN``,
``MLFLOW_TRACKING_USERNAME``/``PASSWORD``), never in the experiment file.

Example (``tracking=`` of :func:`raytune_hpo.run`, or ``tracking:`` in an experiment file)::

    hpo.run(train, space, metric="loss", tracking={"mlflow": {
        "tracking_uri": "sqlite:///mlflow.db", "experiment": "digits"}})
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ray.tune import Callback

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT_TAG = "raytune_hpo.experiment"
TRIAL_TAG = "raytune_hpo.trial_id"


class MLflowLog(Callback):
    """The Ray Tune callback: one MLflow run per trial."""

    def __init__(
        self, path: str, meta: Mapping[str, Any], tracking_uri: str | None = None, experiment: str | None = None
    ):
        self.experiment_name = meta["name"]  # raytune-hpo's, tagged on every run
        self.tracking_uri = tracking_uri
        self.mlflow_experiment = experiment or self.experiment_name
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None
        self._runs: dict[str, str] = {}

    def __getstate__(self) -> dict:  # pickled with the Tuner: the client stays behind
        return {**self.__dict__, "_client": None, "_experiment_id": None, "_runs": {}}

    def _connect(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri)
            found = self._client.get_experiment_by_name(self.mlflow_experiment)
            self._experiment_id = (
                found.experiment_id if found is not None else self._client.create_experiment(self.mlflow_experiment)
            )
        return self._client

    def _run_id(self, trial) -> str:
        run_id = self._runs.get(trial.trial_id)
        if run_id is None:
            client = self._connect()
            experiment_id = self._experiment_id
            assert experiment_id is not None  # set by _connect, with the client
            found = client.search_runs(
                [experiment_id], filter_string=f"tags.`{TRIAL_TAG}` = '{trial.trial_id}'", max_results=1
            )
            if found:
                run_id = found[0].info.run_id
            else:
                tags = {EXPERIMENT_TAG: self.experiment_name, TRIAL_TAG: trial.trial_id}
                run_id = client.create_run(experiment_id, tags=tags, run_name=str(trial)).info.run_id
            self._runs[trial.trial_id] = run_id
        return run_id

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        from mlflow.entities import Param, RunStatus

        from raytune_hpo.space import display, flatten

        run_id = self._run_id(trial)
        client = self._connect()
        if client.get_run(run_id).data.params:
            # A resumed trial: MLflow refuses to change a logged parameter.
            client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            return
        params = [Param(display(key), str(value)[:6000]) for key, value in flatten(trial.config).items()]
        client.log_batch(run_id, params=params)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        from mlflow.entities import Metric

        from raytune_hpo.results import is_metric

        step = int(result.get("training_iteration", 0))
        stamp = int(result.get("timestamp", time.time()) * 1000)
        metrics = [Metric(key, float(value), stamp, step) for key, value in result.items() if is_metric(key, value)]
        if metrics:
            self._connect().log_batch(self._run_id(trial), metrics=metrics)

    def _end(self, trial, status: str) -> None:
        self._connect().set_terminated(self._run_id(trial), status=status)
        self._runs.pop(trial.trial_id, None)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._end(trial, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._end(trial, "FAILED")
