"""TensorBoard: every trial's scalars and HParams read back with TensorBoard's own loader, the
HParams on disk from a running trial's first report, a retried trial's events kept, and a real
``raytune-hpo tensorboard`` server answering on its HTTP data API for one and two experiments."""

from __future__ import annotations

import glob
import json
import os
import pickle
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import numpy as np
import pytest

import raytune_hpo as hpo
from raytune_hpo.cli import main
from raytune_hpo._objectives import Objectives
from raytune_hpo.tracking import TensorBoardLog
from raytune_hpo.tracking._tensorboard import hparam_values

SPACE = {
    "opt": {"lr": hpo.loguniform(1e-3, 1.0), "name": "sgd", "betas": {"first": 0.9}},
    "layers": hpo.choice([[16, 16], [32]]),
    "shuffle": hpo.choice([True, False]),
    "steps": 3,
}
HPARAMS = {"opt.lr", "opt.name", "opt.betas.first", "layers", "shuffle", "steps"}
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def curve(config):
    for t in range(1, config["steps"] + 1):
        hpo.report(loss=config["opt"]["lr"] / t, accuracy=1 - 1 / (t + 1), eval={"f1": 0.5})


def report_once_then_wait(config):
    hpo.report(loss=1.0)
    deadline = time.time() + 120
    while not os.path.exists(config["release"]) and time.time() < deadline:
        time.sleep(0.05)
    hpo.report(loss=0.5)


def fail_once(config):
    state = hpo.load_checkpoint()
    for t in range((state or {}).get("t", 0) + 1, 5):
        hpo.report(loss=1 / t, checkpoint={"t": t})
        if t == 2 and not os.path.exists(config["failed"]):
            open(config["failed"], "w").close()
            raise RuntimeError("the first attempt fails after two reports")


def accumulator(trial_dir: str):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(trial_dir)
    events.Reload()
    return events


def hparams_of(events) -> dict:
    """The HParams plugin's records of a run: experiment, session start and end, parsed."""
    from tensorboard.plugins.hparams import metadata

    parse = {
        metadata.EXPERIMENT_TAG: metadata.parse_experiment_plugin_data,
        metadata.SESSION_START_INFO_TAG: metadata.parse_session_start_info_plugin_data,
        metadata.SESSION_END_INFO_TAG: metadata.parse_session_end_info_plugin_data,
    }
    return {tag: parse[tag](data) for tag, data in events.PluginTagToContent("hparams").items()}


@pytest.fixture(scope="module")
def experiment(ray_cluster, tmp_path_factory):
    return hpo.run(curve, SPACE, metric="loss", num_samples=3, storage=str(tmp_path_factory.mktemp("runs")),
                   name="curves", seed=0, verbose=0)


def test_every_trial_has_its_scalars_and_every_configuration_value_as_hparams(experiment):
    from tensorboard.plugins.hparams import api_pb2, metadata

    assert len(experiment.trials) == 3
    for trial in experiment.trials:
        events = accumulator(trial.path)
        assert set(events.Tags()["scalars"]) == {"loss", "accuracy", "eval/f1"}
        loss = events.Scalars("loss")
        assert [(s.step, pytest.approx(s.value)) for s in loss] == [
            (r["training_iteration"], r["loss"]) for r in trial.history]
        assert all(s.wall_time > 1e9 for s in loss) and loss == sorted(loss, key=lambda s: s.wall_time)

        records = hparams_of(events)
        start = records[metadata.SESSION_START_INFO_TAG]
        assert set(start.hparams) == HPARAMS
        assert start.hparams["opt.lr"].number_value == trial.config["opt"]["lr"]
        assert start.hparams["opt.name"].string_value == "sgd"
        assert start.hparams["opt.betas.first"].number_value == 0.9
        assert start.hparams["steps"].number_value == 3
        assert start.hparams["layers"].string_value == str(trial.config["layers"])
        assert start.hparams["shuffle"].bool_value is trial.config["shuffle"]
        assert start.group_name == os.path.basename(trial.path)

        declared = records[metadata.EXPERIMENT_TAG]
        assert {info.name for info in declared.hparam_infos} == HPARAMS
        types = {info.name: info.type for info in declared.hparam_infos}
        assert types["opt.lr"] == api_pb2.DATA_TYPE_FLOAT64 and types["shuffle"] == api_pb2.DATA_TYPE_BOOL
        assert types["layers"] == api_pb2.DATA_TYPE_STRING
        assert declared.metric_infos[0].name.tag == "loss"
        assert {m.name.tag for m in declared.metric_infos} <= {"loss", "accuracy", "eval/f1"}

        assert records[metadata.SESSION_END_INFO_TAG].status == api_pb2.STATUS_SUCCESS


def test_hparams_are_on_disk_after_the_first_report_of_a_running_trial(ray_cluster, storage, tmp_path):
    from tensorboard.plugins.hparams import metadata

    release = tmp_path / "release"
    seen: dict = {}

    def watch() -> None:
        """Reads the running trial's events once its first report is there, then lets it end."""
        deadline = time.time() + 120
        try:
            while time.time() < deadline:
                trial_dirs = glob.glob(os.path.join(storage, "waiting", "trial_*"))
                if trial_dirs and glob.glob(os.path.join(trial_dirs[0], "events.out.tfevents.*")):
                    events = accumulator(trial_dirs[0])
                    if "loss" in events.Tags()["scalars"]:
                        seen["loss"] = [s.value for s in events.Scalars("loss")]
                        seen["records"] = hparams_of(events)
                        return
                time.sleep(0.1)
        finally:
            release.touch()

    watcher = threading.Thread(target=watch)
    watcher.start()
    hpo.run(report_once_then_wait, {"lr": hpo.uniform(0, 1), "release": str(release)}, metric="loss",
            num_samples=1, storage=storage, name="waiting", verbose=0)
    watcher.join()

    assert seen["loss"] == [1.0]
    records = seen["records"]
    assert set(records[metadata.SESSION_START_INFO_TAG].hparams) == {"lr", "release"}
    assert [m.name.tag for m in records[metadata.EXPERIMENT_TAG].metric_infos] == ["loss"]
    assert metadata.SESSION_END_INFO_TAG not in records  # it was still running


def test_a_retried_trial_keeps_its_first_events_and_continues_in_a_new_file(ray_cluster, storage, tmp_path):
    results = hpo.run(fail_once, {"x": hpo.uniform(0, 1), "failed": str(tmp_path / "failed")}, metric="loss",
                      num_samples=1, max_failures=1, storage=storage, name="retried", verbose=0)
    (trial,) = results.trials
    assert len(glob.glob(os.path.join(trial.path, "events.out.tfevents.*"))) == 2
    assert [s.step for s in accumulator(trial.path).Scalars("loss")] == [1, 2, 3, 4]


def test_the_callback_pickles_with_the_tuner_and_values_of_any_type_become_hparams():
    assert pickle.loads(pickle.dumps(TensorBoardLog(Objectives.of("loss"))))._metrics == ["loss"]
    assert hparam_values({"a": {"b": np.int64(2), "c": {}}, "d": None, "e": (1, "x"), "f": np.bool_(True)}) == {
        "a.b": 2.0, "a.c": "{}", "d": "None", "e": "(1, 'x')", "f": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Board:
    """``raytune-hpo tensorboard`` in a subprocess, stopped with Ctrl-C (SIGINT)."""

    def __init__(self, *directories: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["raytune-hpo", "tensorboard", *directories, "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.line = self.process.stdout.readline()

    def get(self, route: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{route}", timeout=30) as response:
            return json.load(response)

    def post(self, route: str, body: dict):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{route}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def runs(self, expected: int) -> list[str]:
        """The runs, once TensorBoard has loaded them all (it reads the files in the background)."""
        deadline = time.time() + 60
        while len(runs := self.get("/data/runs")) < expected and time.time() < deadline:
            time.sleep(0.5)
        return runs

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.process.kill()
            self.process.communicate()


def test_tensorboard_serves_the_runs_and_hparams_of_an_experiment(experiment):
    board = Board(experiment.path)
    try:
        assert board.line.strip() == f"TensorBoard at http://127.0.0.1:{board.port}/ (Ctrl-C to stop)"
        names = {os.path.basename(t.path) for t in experiment.trials}
        assert set(board.runs(len(names))) == names

        declared = board.post("/data/plugin/hparams/experiment", {"experimentName": "", "includeMetrics": True})
        assert {h["name"] for h in declared["hparamInfos"]} == HPARAMS
        assert declared["metricInfos"][0]["name"]["tag"] == "loss"

        groups = board.post("/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": STATUSES, "startIndex": 0, "sliceSize": 100,
            "colParams": [{"hparam": name} for name in sorted(HPARAMS)] + [{"metric": {"tag": "loss", "group": ""}}],
        })["sessionGroups"]
        by_name = {g["name"]: g for g in groups}
        assert set(by_name) == names
        for trial in experiment.trials:
            group = by_name[os.path.basename(trial.path)]
            assert group["hparams"]["opt.lr"] == pytest.approx(trial.config["opt"]["lr"])
            assert group["hparams"]["opt.betas.first"] == 0.9 and group["hparams"]["steps"] == 3
            loss = next(m for m in group["metricValues"] if m["name"]["tag"] == "loss")
            assert loss["trainingStep"] == 3 and loss["value"] == pytest.approx(trial.history[-1]["loss"])
            assert group["sessions"][0]["status"] == "STATUS_SUCCESS"
    finally:
        assert board.stop() == 0


def test_tensorboard_serves_two_experiments_at_once(experiment, tmp_path):
    other = hpo.run(curve, SPACE, metric="loss", num_samples=1, storage=str(tmp_path), name="curves", verbose=0)
    board = Board(experiment.path, other.path)
    try:
        # Both directories are named "curves": the second is shown as "curves-2".
        expected = {f"curves/{os.path.basename(t.path)}" for t in experiment.trials}
        expected |= {f"curves-2/{os.path.basename(t.path)}" for t in other.trials}
        assert set(board.runs(len(expected))) == expected
        declared = board.post("/data/plugin/hparams/experiment", {"experimentName": "", "includeMetrics": True})
        assert {h["name"] for h in declared["hparamInfos"]} == HPARAMS
    finally:
        assert board.stop() == 0


def test_a_directory_that_is_not_an_experiment_is_one_line_and_exit_code_2(experiment, tmp_path, capsys):
    assert main(["tensorboard", experiment.path, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a raytune-hpo experiment directory" in err
