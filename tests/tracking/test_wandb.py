"""Weights & Biases, offline (no network, no account): every trial of an experiment (from the API
and from a file) is a W&B run, read back from the transaction logs (``.wandb``) W&B writes in
the experiment's ``wandb/`` folder; a resumed or retried trial and a PBT trial keep one run id,
their steps growing; and nothing is sent anywhere."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import raytune_hpo as hpo
from raytune_hpo.errors import ConfigError
from tests.helpers import start_tracked_script

pytest.importorskip("wandb")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def quiet_wandb(monkeypatch, tmp_path):
    """No output, and nothing of the user's W&B setup (an API key, a mode, a server) in play."""
    for name in [n for n in os.environ if n.startswith("WANDB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))  # no ~/.config/wandb settings


# -- W&B's transaction log, read back ------------------------------------------------------------
#
# wandb 0.31 no longer ships a Python reader of its .wandb files (the reader lives in wandb-core,
# in Go). The format is LevelDB's log: a 7-byte file header (":W&B", a magic number, a version),
# then 32 KiB blocks of chunks, each a 7-byte header (CRC, length, kind: full, first, middle,
# last) and its bytes; a block's tail too short for a header is zero padding. The chunks of a
# record join into one protobuf wandb_internal_pb2.Record, W&B's own.

_BLOCK, _HEADER = 32768, 7
_FULL, _LAST = 1, 4


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    found, chunks, at = [], [], _HEADER
    while at + _HEADER <= len(data):
        left = _BLOCK - at % _BLOCK
        if left < _HEADER:  # the block's tail, zeros
            at += left
            continue
        _, length, kind = struct.unpack("<IHB", data[at : at + _HEADER])
        chunks.append(data[at + _HEADER : at + _HEADER + length])
        at += _HEADER + length
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            found.append(record)
            chunks = []
    return found


def _key(item) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


@dataclass
class Session:
    """One session of a run (one wandb.init): one offline-run folder."""

    folder: str
    run_id: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    name: str = ""
    config: dict = field(default_factory=dict)  # as it ended
    configs: list[dict] = field(default_factory=list)  # as it was set, then after each change
    history: list[dict] = field(default_factory=list)  # W&B's own keys (_runtime, _timestamp) left out
    summary: dict = field(default_factory=dict)
    step_metrics: dict = field(default_factory=dict)  # glob or name -> its x-axis
    exit_code: int | None = None


def read_session(folder: Path) -> Session:
    (log,) = folder.glob("*.wandb")
    session = Session(folder.name)
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            session.run_id, session.project, session.entity = run.run_id, run.project, run.entity
            session.group, session.name = run.run_group, run.display_name
            session.config.update({item.key: json.loads(item.value_json) for item in run.config.update})
            session.configs.append(dict(session.config))
        elif kind == "config":
            session.config.update({item.key: json.loads(item.value_json) for item in record.config.update})
            session.configs.append(dict(session.config))
        elif kind == "history":
            row = {_key(item): json.loads(item.value_json) for item in record.history.item}
            session.history.append({k: v for k, v in row.items() if k not in ("_runtime", "_timestamp")})
        elif kind == "summary":
            session.summary.update({_key(item): json.loads(item.value_json) for item in record.summary.update})
        elif kind == "metric":
            metric = record.metric
            session.step_metrics[metric.glob_name or metric.name] = metric.step_metric
        elif kind == "exit":
            session.exit_code = record.exit.exit_code
    return session


def runs_of(experiment: str | Path) -> dict[str, list[Session]]:
    """Run id -> its sessions, in the order they started."""
    runs: dict[str, list[Session]] = {}
    for folder in sorted(Path(experiment, "wandb").glob("offline-run-*")):
        session = read_session(folder)
        runs.setdefault(session.run_id, []).append(session)
    return runs


def by_trial(experiment) -> dict[str, list[Session]]:
    return {sessions[0].config["_raytune_hpo"]["trial_id"]: sessions for sessions in runs_of(experiment).values()}


def trial_config(config: dict) -> dict:
    """A run's config without W&B's and raytune-hpo's own keys: the trial's."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def rows(trial, *metrics: str) -> list[dict]:
    """The W&B rows the trial's reports should be: the step, the report's row in result.json;
    ``metrics`` by their W&B names (``grads/norm`` for ``{"grads": {"norm": ...}}``)."""

    def value(report: dict, name: str):
        for key in name.split("/"):
            report = report[key]
        return report

    return [{"_step": i, "training_iteration": r["training_iteration"], **{m: value(r, m) for m in metrics}}
            for i, r in enumerate(trial.history)]


# -- an experiment -------------------------------------------------------------------------------


def curve(config):
    for t in range(1, config["steps"] + 1):
        hpo.report(loss=config["opt"]["lr"] / t, accuracy=1 - 1 / (t + 1), grads={"norm": float(t)})


SPACE = {"opt": {"lr": hpo.uniform(0.1, 1.0), "name": "sgd"}, "steps": 3, "layers": hpo.choice([[8, 8], [16]])}


def test_every_trial_is_a_run_with_its_config_every_report_a_step_and_its_end(ray_cluster, storage):
    hooks = (sys.excepthook, sys.exit, {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)})
    results = hpo.run(curve, SPACE, metric="loss", num_samples=3, storage=storage, name="tracked", seed=0, verbose=0,
                      tracking={"wandb": {"mode": "offline", "project": "digits", "entity": "lab"}})
    # wandb's hooks on this process (its first run starts its service) are gone.
    assert (sys.excepthook, sys.exit, {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}) == hooks
    assert "WANDB_SERVICE" not in os.environ

    runs = by_trial(results.path)
    assert set(runs) == {t.trial_id for t in results.trials}
    assert len({sessions[0].run_id for sessions in runs.values()}) == 3
    for trial in results.trials:
        (run,) = runs[trial.trial_id]  # one session
        assert (run.project, run.entity, run.group, run.name) == ("digits", "lab", "tracked", trial.name)
        assert run.config["_raytune_hpo"] == {"experiment": "tracked", "trial_id": trial.trial_id}
        assert trial_config(run.config) == {"opt.lr": trial.config["opt"]["lr"], "opt.name": "sgd", "steps": 3,
                                            "layers": trial.config["layers"]}
        assert run.step_metrics == {"training_iteration": "", "*": "training_iteration"}
        assert len(trial.history) == 3
        assert run.history == rows(trial, "loss", "accuracy", "grads/norm")
        assert run.summary["status"] == "TERMINATED" and run.exit_code == 0
        assert run.summary["node"] == trial.history[-1]["hostname"]
        assert run.summary["loss"] == trial.history[-1]["loss"]


# A server that answers anything, counting what it gets: W&B's address, to see that nothing went out.
class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def _answer(self):
        _Recorder.requests.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.end_headers()

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def wandb_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Recorder.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.requests
    server.shutdown()


def test_experiment_file_logs_offline_runs_and_sends_nothing(ray_cluster, tmp_path, wandb_server):
    url, requests = wandb_server
    name = "synthetic-counting-ones-random-hyperband"
    done = subprocess.run(
        [sys.executable, "-m", "raytune_hpo", "run", str(ROOT / "experiments" / f"{name}.yaml"),
         "--set", "num_samples=2", "--set", "tracking={wandb: {mode: offline}}", "--set", f"storage={tmp_path}/runs",
         "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        # The driver joins this test's Ray; W&B's server, were anything sent, is the recorder.
        env={**os.environ, "RAY_ADDRESS": ray_cluster, "WANDB_BASE_URL": url},
    )
    assert done.returncode == 0, done.stderr
    results = hpo.load(tmp_path / "runs" / name)
    runs = by_trial(results.path)
    assert set(runs) == {t.trial_id for t in results.trials} and len(runs) == 2
    for trial in results.trials:
        (run,) = runs[trial.trial_id]  # HyperBand pauses trials: their run stays the same, open
        assert (run.project, run.group, run.name) == (name, name, trial.name)
        assert run.history == rows(trial, "loss", "regret") and run.summary["status"] == trial.status
    assert requests == [], "W&B in offline mode sent requests"
    assert "wandb" not in done.stdout + done.stderr


# A trial that fails at its third epoch until `marker` exists, each epoch checkpointed: resumed
# with retry_errored, it continues from its second.
def flaky(config):
    state = hpo.load_checkpoint()
    for epoch in range(0 if state is None else state["epoch"] + 1, 3):
        if epoch == 2 and not os.path.exists(config["marker"]):
            raise RuntimeError("not yet")
        hpo.report(loss=config["x"] + 1 / (epoch + 1), checkpoint={"epoch": epoch})


def test_a_resumed_trial_continues_its_run_its_steps_after_the_earlier_ones(ray_cluster, storage, tmp_path):
    marker = tmp_path / "marker"
    space = {"x": hpo.uniform(0, 1), "marker": str(marker)}
    tracking = {"wandb": {"mode": "offline", "group": "flaky-group"}}
    failed = hpo.run(flaky, space, metric="loss", num_samples=2, max_failures=1, storage=storage, name="flaky",
                     seed=0, verbose=0, tracking=tracking)
    assert [t.status for t in failed.trials] == ["ERROR", "ERROR"] and all(len(t.history) == 2 for t in failed.trials)
    before = by_trial(failed.path)
    for trial in failed.trials:
        (run,) = before[trial.trial_id]  # its retry (max_failures=1) continued the same run
        assert run.history == rows(trial, "loss")
        assert run.summary["status"] == "ERROR" and run.exit_code == 1
        assert run.group == "flaky-group" and run.project == "flaky"

    marker.touch()
    resumed = hpo.resume(failed.path, retry_errored=True, verbose=0)
    assert [t.status for t in resumed.trials] == ["TERMINATED", "TERMINATED"]
    after = by_trial(resumed.path)
    assert len(runs_of(resumed.path)) == 2  # no new run
    for trial in resumed.trials:
        first, second = after[trial.trial_id]  # a second session of the same run
        assert first == before[trial.trial_id][0]  # the first left as it was
        assert (second.run_id, second.name, second.group) == (first.run_id, first.name, first.group)
        assert trial_config(second.config) == trial_config(first.config)
        assert [r["training_iteration"] for r in trial.history] == [1, 2, 3]
        assert second.history == rows(trial, "loss")[2:]  # step 2: after the earlier ones
        assert second.summary["status"] == "TERMINATED" and second.exit_code == 0


def wait_for_a_trial_mid_way(path: str, timeout: float = 120) -> None:
    """Returns once a trial of the experiment in ``path`` has reported, and not all its epochs."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.suppress(ConfigError):  # not begun yet
            if any(t.status == "RUNNING" and 0 < len(t.history) < 3 for t in hpo.load(path).trials):
                return
        time.sleep(0.05)
    raise AssertionError(f"no trial reported within {timeout} s")


def test_an_interrupted_experiment_resumed_continues_its_runs(ray_cluster, storage, tmp_path):
    path = os.path.join(storage, "interrupted")
    driver = start_tracked_script(tmp_path, storage, "interrupted", 4, {"wandb": {"mode": "offline"}}, ray_cluster)
    wait_for_a_trial_mid_way(path)
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err

    resumed = hpo.resume(path, verbose=0)
    assert resumed.state == "finished" and [t.status for t in resumed.trials] == ["TERMINATED"] * 4
    runs = by_trial(path)
    assert len(runs_of(path)) == 4
    continued = 0
    for trial in resumed.trials:
        sessions = runs[trial.trial_id]
        *cut, last = sessions
        continued += any(s.history for s in cut)
        assert all(s.summary["status"] == "INTERRUPTED" and s.exit_code == 0 for s in cut)
        assert last.summary["status"] == "TERMINATED" and last.exit_code == 0
        assert {s.run_id for s in sessions} == {last.run_id} and {s.name for s in sessions} == {trial.name}
        # Every report once, the steps of each session after the earlier ones'.
        assert [row for s in sessions for row in s.history] == rows(trial, "loss")
    assert continued, "no trial was stopped mid-way, then resumed"


def climber(config):
    """Climbs by ``lr`` per step from its checkpoint (PBT hands it another trial's)."""
    import time

    state = hpo.load_checkpoint()
    w, step = (config["init"], 0) if state is None else (state["w"], state["step"])
    for _ in range(step, 8):
        time.sleep(0.05)
        step, w = step + 1, w + config["lr"]
        hpo.report(score=w, step=step, checkpoint={"w": w, "step": step})


def test_a_pbt_trial_keeps_one_run_through_its_exploits(ray_cluster, storage):
    res = hpo.run(climber, {"init": hpo.uniform(0.0, 10.0), "lr": hpo.uniform(0.1, 1.0)}, metric="score", mode="max",
                  scheduler="pbt", num_samples=4, max_t=8, seed=0, resources={"cpu": 0.5}, storage=storage, name="pbt",
                  scheduler_options={"perturbation_interval": 2, "quantile_fraction": 0.25}, verbose=0,
                  tracking={"wandb": {"mode": "offline"}})
    runs = by_trial(res.path)
    assert set(runs) == {t.trial_id for t in res.trials}
    exploited = 0
    for trial in res.trials:
        (run,) = runs[trial.trial_id]  # one session, one run: paused, handed a checkpoint, restarted
        assert run.history == rows(trial, "score", "step")  # every report, steps 0, 1, 2, ...
        configs = [trial_config(c) for c in run.configs]
        assert configs[-1] == trial_config(run.config) == {"init": trial.config["init"], "lr": trial.config["lr"]}
        exploited += any(c != configs[0] for c in configs)  # an exploit: the donor's configuration, explored
    assert exploited, "PBT never exploited"

@pytest.mark.parametrize("tracking, message", [
    ({"wandb": {"mode": "x"}}, "tracking.wandb.mode: must be 'online' or 'offline' or 'disabled', got 'x'"),
    ({"wandb": {"projet": "x"}}, "tracking.wandb.projet: not an option of tracker 'wandb'; valid: entity, group, mode, "
                                 "project"),
    ({"wandb": {"entity": 3}}, "tracking.wandb.entity: must be a non-empty string, got 3"),
    ({"wandb": "offline"}, "tracking.wandb: must be a mapping of project, entity, mode, group, got 'offline'"),
])
def test_bad_wandb_options_are_one_line(storage, tracking, message):
    with pytest.raises(ConfigError) as refused:
        hpo.run(curve, SPACE, metric="loss", storage=storage, name="bad", tracking=tracking)
    assert str(refused.value) == message
    assert not os.path.exists(os.path.join(storage, "bad"))


def test_online_without_credentials_is_refused_in_one_line_before_any_trial(ray_cluster, storage, tmp_path,
                                                                             monkeypatch, wandb_server):
    url, requests = wandb_server
    monkeypatch.setenv("WANDB_BASE_URL", url)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with pytest.raises(ConfigError) as refused:
        hpo.run(curve, SPACE, metric="loss", storage=storage, name="online", verbose=0, tracking={"wandb": {}})
    assert str(refused.value) == ("tracking.wandb: no W&B API key on this machine; log in once with `wandb login` "
                                  "(or set WANDB_API_KEY), or use mode: offline and `wandb sync` the runs later")
    assert not os.path.exists(storage) and requests == []  # refused before anything was written
