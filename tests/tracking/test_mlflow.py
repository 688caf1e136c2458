"""MLflow: every trial of an experiment (from the API and from a file) is an MLflow run in a
local sqlite store, read back through MLflow's own client; a resumed trial continues its run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import raytune_hpo as hpo
from raytune_hpo.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def curve(config):
    for t in range(1, config["steps"] + 1):
        hpo.report(loss=config["opt"]["lr"] / t, accuracy=1 - 1 / (t + 1))


SPACE = {"opt": {"lr": hpo.uniform(0.1, 1.0), "name": "sgd"}, "steps": 3, "layers": hpo.choice([[8, 8], [16]])}


def runs_of(uri: str, experiment: str):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id])


def test_every_trial_is_a_run_with_params_metric_history_and_tags(ray_cluster, storage, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    results = hpo.run(curve, SPACE, metric="loss", num_samples=3, storage=storage, name="tracked", seed=0,
                      verbose=0, tracking={"mlflow": {"tracking_uri": uri, "experiment": "digits"}})
    client, runs = runs_of(uri, "digits")
    assert len(runs) == 3
    by_trial = {run.data.tags["raytune_hpo.trial_id"]: run for run in runs}
    assert set(by_trial) == {t.trial_id for t in results.trials}
    for trial in results.trials:
        run = by_trial[trial.trial_id]
        assert run.info.status == "FINISHED"
        assert run.data.tags["raytune_hpo.experiment"] == "tracked"
        assert run.data.params == {"opt.lr": str(trial.config["opt"]["lr"]), "opt.name": "sgd", "steps": "3",
                                   "layers": str(trial.config["layers"])}
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
            (r["training_iteration"], r["loss"]) for r in trial.history]
        assert len(client.get_metric_history(run.info.run_id, "accuracy")) == 3


def test_experiment_file_logs_to_mlflow(ray_cluster, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    done = subprocess.run(
        [sys.executable, "-m", "raytune_hpo", "run", str(ROOT / "experiments" / "synthetic-counting-ones-random-hyperband.yaml"),
         "--set", "num_samples=2", "--set", f"tracking={{mlflow: {{tracking_uri: '{uri}', experiment: ones}}}}",
         "--set", f"storage={tmp_path}/runs", "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    _, runs = runs_of(uri, "ones")
    assert len(runs) == 2 and {r.data.tags["raytune_hpo.experiment"] for r in runs} == {
        "synthetic-counting-ones-random-hyperband"}


@pytest.mark.parametrize("tracking, message", [
    ({"mlflw": {}}, "tracking.mlflw: unknown tracker; the trackers are mlflow, wandb, optuna"),
    ({"mlflow": {"uri": "x"}}, "tracking.mlflow.uri: not an option of tracker 'mlflow'; valid: experiment, tracking_uri"),
    ({"mlflow": {"password": "x"}}, "tracking.mlflow.password: credentials are never an option"),
    ({"mlflow": {"experiment": 3}}, "tracking.mlflow.experiment: must be a non-empty string, got 3"),
    ("mlflow", "tracking: must be a mapping"),
])
def test_bad_tracking_is_one_line(storage, tracking, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        hpo.run(curve, SPACE, metric="loss", storage=storage, tracking=tracking)
