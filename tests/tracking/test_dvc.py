"""DVC and git: a real repository in a temporary folder (``git init``, ``dvc init``, a data file
``dvc add``-ed, a stage run by ``dvc repro``; all offline). The manifest records the hashes the
``.dvc`` files and ``dvc.lock`` hold and what ``dvc status`` says, also when raytune-hpo runs as
a ``dvc repro`` stage; ``export --params/--metrics`` writes files that the real ``dvc params
diff`` and ``dvc metrics show`` read back. The ``dvc`` command is in the test extras: where it
is missing, these tests fail."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import raytune_hpo as hpo
from raytune_hpo.directory import as_json
from raytune_hpo.errors import ConfigError
from raytune_hpo.manifest import read_manifest, start_session, write_manifest
from raytune_hpo.tracking import _dvc
from raytune_hpo.tracking._dvc import dvc_state, write_params_metrics

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "DVC_NO_ANALYTICS": "1",  # offline, and fast
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
}  # fmt: skip
DATA = b"hello data\n"
DVC_YAML = """\
stages:
  prepare:
    cmd: tr a-z A-Z < data/raw.txt > upper.txt
    deps:
    - data/raw.txt
    outs:
    - upper.txt
metrics:
- metrics.json
"""


def sh(cwd, *args: str) -> str:
    """A command that must succeed: its stdout. ``dvc`` is this Python's (the dvc extra)."""
    command = [sys.executable, "-m", "dvc", *args[1:]] if args[0] == "dvc" else list(args)
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """git + DVC: ``data/raw.txt`` added (``data/raw.txt.dvc``), stage ``prepare`` reproduced
    (``dvc.lock``), all committed."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    sh(repo, "git", "init", "-q")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "dvc", "config", "core.analytics", "false")
    (repo / "data" / "raw.txt").write_bytes(DATA)
    sh(repo, "dvc", "add", "-q", "data/raw.txt")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    sh(repo, "dvc", "repro", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "data")
    return repo


def expected_state(repo: Path) -> dict:
    """What the files say, read here independently."""
    outs = yaml.safe_load((repo / "data" / "raw.txt.dvc").read_text())["outs"]
    stage = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["prepare"]
    return {"data/raw.txt.dvc": outs}, {"prepare": {"deps": stage["deps"], "outs": stage["outs"]}}


def test_the_state_records_the_files_hashes_and_whether_the_workspace_differs(repo):
    state = dvc_state(str(repo / "data"))  # from a folder inside: the root is found up the way
    files, lock = expected_state(repo)
    assert state == {"root": str(repo), "files": files, "lock": lock, "unreadable": {},
                     "status": {"changed": False, "differences": {}}}
    assert files["data/raw.txt.dvc"] == [{"md5": hashlib.md5(DATA).hexdigest(), "size": len(DATA), "hash": "md5",
                                          "path": "raw.txt"}]
    assert lock["prepare"]["deps"][0]["md5"] == hashlib.md5(DATA).hexdigest()
    assert lock["prepare"]["outs"][0]["md5"] == hashlib.md5(DATA.upper()).hexdigest()

    (repo / "data" / "raw.txt").write_bytes(b"other data\n")  # git cannot see it: DVC's
    (repo / "data" / "more.txt").write_bytes(b"more\n")
    sh(repo, "dvc", "add", "-q", "data/more.txt")  # a .dvc file not committed yet counts too
    changed = dvc_state(str(repo))
    assert changed["status"] == {"changed": True, "differences": {
        "prepare": [{"changed deps": {"data/raw.txt": "modified"}}],
        "data/raw.txt.dvc": [{"changed outs": {"data/raw.txt": "modified"}}]}}
    assert changed["files"]["data/raw.txt.dvc"] == files["data/raw.txt.dvc"]  # what the commit holds
    assert changed["files"]["data/more.txt.dvc"][0]["md5"] == hashlib.md5(b"more\n").hexdigest()


def test_outside_a_dvc_repository_there_is_no_state(tmp_path):
    sh(tmp_path, "git", "init", "-q")  # git alone is not DVC
    assert dvc_state(str(tmp_path)) is None


def test_without_dvc_the_hashes_are_recorded_and_the_status_says_why(repo, monkeypatch):
    monkeypatch.setattr(_dvc, "_dvc_command", lambda: None)
    state = dvc_state(str(repo))
    assert (state["files"], state["lock"]) == expected_state(repo)
    assert state["status"] == {"changed": None, "why": "dvc is not installed: pip install 'raytune-hpo[dvc]'"}


def test_outside_git_the_repository_is_walked_skipping_what_holds_no_data_version(tmp_path, monkeypatch):
    monkeypatch.setattr(_dvc, "_dvc_command", lambda: None)  # the files only: no git, no dvc here
    root = tmp_path / "nogit"
    for folder in (".dvc/cache", "a/b", "venv-x", "runs/exp1/trial_0", "sub"):
        (root / folder).mkdir(parents=True)
    out = "outs:\n- md5: 0a1b\n  size: 3\n  hash: md5\n  path: d\n  cache: true\n"
    for path in ("a/b/d.dvc", ".dvc/cache/x.dvc", "venv-x/y.dvc", "runs/exp1/trial_0/z.dvc", "broken.dvc"):
        (root / path).write_text(out if path != "broken.dvc" else "outs: [\n")
    (root / "venv-x" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "runs" / "exp1" / "hpo.json").write_text("{}")
    lock = "schema: '2.0'\nstages:\n  train:\n    deps:\n    - path: a\n      md5: 9f\n"
    (root / "sub" / "dvc.lock").write_text(lock)
    state = dvc_state(str(root / "a" / "b"))
    assert state["files"] == {"a/b/d.dvc": [{"md5": "0a1b", "size": 3, "hash": "md5", "path": "d"}]}
    assert state["lock"] == {"sub/dvc.yaml:train": {"deps": [{"path": "a", "md5": "9f"}], "outs": []}}
    assert list(state["unreadable"]) == ["broken.dvc"]


def test_run_by_dvc_repro_as_a_stage_the_lock_is_dvcs_and_the_stage_is_named(repo):
    """DVC holds the repository's lock while a stage runs: ``dvc status`` from inside it fails."""
    record = (f"{sys.executable} -c 'import json; from raytune_hpo.tracking._dvc import dvc_state; "
              "print(json.dumps(dvc_state(\".\")))' > state.json")
    pipeline = yaml.safe_load(DVC_YAML)
    pipeline["stages"]["record"] = {"cmd": record, "deps": ["upper.txt"], "outs": [{"state.json": {"cache": False}}]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline))
    sh(repo, "dvc", "repro", "-q", "record")
    state = json.loads((repo / "state.json").read_text())
    assert state["status"] == {"changed": None, "stage": "record", "why": "run by DVC as stage 'record': DVC holds "
                               "the repository's lock, and records the stage's dependencies in dvc.lock when it ends"}
    assert state["lock"] == expected_state(repo)[1]  # prepare's; record's comes when it has ended


def trivial(config):
    for t in range(1, config["steps"] + 1):
        hpo.report(loss=config["opt"]["lr"] + (t - 2) ** 2, accuracy=1 - 1 / (t + 1), note="text")  # best at t=2


SPACE = {"opt": {"lr": hpo.uniform(0.1, 1.0), "name": "sgd"}, "steps": 3, "layers": hpo.choice([[8, 8], [16]])}


def test_the_manifest_records_the_data_versions_and_each_resumed_session_its_own(ray_cluster, storage, repo,
                                                                                 monkeypatch):
    monkeypatch.chdir(repo / "data")
    results = hpo.run(trivial, SPACE, metric="loss", num_samples=2, storage=storage, name="dvc", seed=0, verbose=0)
    manifest = read_manifest(results.path)
    files, lock = expected_state(repo)
    assert manifest["dvc"] == {"root": str(repo), "files": files, "lock": lock, "unreadable": {},
                               "status": {"changed": False, "differences": {}}}
    assert manifest["git"]["dirty"] is False  # the storage is outside the repository

    (repo / "data" / "raw.txt").write_bytes(b"changed between sessions\n")
    start_session(results.path)  # as resume does
    session = read_manifest(results.path)["sessions"][-1]
    assert session["dvc"]["status"]["changed"] is True and session["working_directory"] == str(repo / "data")
    assert session["git"] == manifest["git"]  # data changed, code did not
    assert read_manifest(results.path)["dvc"] == manifest["dvc"]  # the start's, as it was


def test_outside_dvc_the_manifest_says_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp").mkdir()
    write_manifest(str(tmp_path / "exp"), seed=0, objectives={"metric": "loss", "mode": "min"})
    assert read_manifest(str(tmp_path / "exp"))["dvc"] is None


@pytest.fixture(scope="module")
def single(ray_cluster, tmp_path_factory):
    storage = str(tmp_path_factory.mktemp("single") / "runs")
    return hpo.run(trivial, SPACE, metric="loss", num_samples=3, storage=storage, name="one", seed=0, verbose=0)


def params_diff(repo) -> dict:
    return json.loads(sh(repo, "dvc", "params", "diff", "--all", "--json") or "{}")


def metrics_show(repo) -> dict:
    return json.loads(sh(repo, "dvc", "metrics", "show", "--json"))[""]["data"]["metrics.json"]["data"]


def dotted(config: dict, prefix: str = "") -> dict:
    """As dvc shows params: nested keys dotted, lists as their text."""
    flat = {}
    for k, v in config.items():
        if isinstance(v, dict):
            flat.update(dotted(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = str(v) if isinstance(v, list) else v
    return flat


def test_params_and_metrics_are_what_dvc_reads_and_compares(single, repo):
    best = single.best_trial
    other = next(t for t in single.trials if t.config["opt"]["lr"] != best.config["opt"]["lr"])
    params, metrics = str(repo / "params.yaml"), str(repo / "metrics.json")
    assert write_params_metrics(single, params, metrics) == [params, metrics]
    assert yaml.safe_load(Path(params).read_text()) == single.best_config  # nested, as the config is
    assert {k: v["new"] for k, v in params_diff(repo)["params.yaml"].items()} == dotted(single.best_config)
    report = best.best_report("loss", "min")
    assert metrics_show(repo) == {"trial_id": best.trial_id, "training_iteration": 2,
                                  "loss": single.best_metrics["loss"], "accuracy": report["accuracy"]}
    assert report["loss"] == single.best_metrics["loss"] == best.config["opt"]["lr"]  # the best report, not the last
    assert report["accuracy"] == 1 - 1 / 3  # "note" is text: no metric

    sh(repo, "git", "add", "params.yaml", "metrics.json")
    sh(repo, "git", "commit", "-qm", "tuned")
    write_params_metrics(single, params, metrics, trial_id=other.trial_id)  # another result, against the commit
    diff = json.loads(sh(repo, "dvc", "params", "diff", "--json"))
    old, new = best.config["opt"]["lr"], other.config["opt"]["lr"]
    assert diff["params.yaml"]["opt.lr"] == {"old": old, "new": new, "diff": pytest.approx(new - old)}
    assert set(diff["params.yaml"]) <= {"opt.lr", "layers"}  # what did not change is not shown
    assert metrics_show(repo)["trial_id"] == other.trial_id
    assert metrics_show(repo)["loss"] == other.best_report("loss", "min")["loss"]
    metrics_diff = json.loads(sh(repo, "dvc", "metrics", "diff", "--json"))["metrics.json"]
    assert metrics_diff["trial_id"] == {"old": best.trial_id, "new": other.trial_id}


def test_the_cli_writes_them_and_prints_each_path(single, tmp_path):
    trial = single.trials[-1]
    params, metrics = str(tmp_path / "out" / "p.json"), str(tmp_path / "out" / "m.yaml")
    done = subprocess.run([sys.executable, "-m", "raytune_hpo", "export", single.path, "--params", params,
                           "--metrics", metrics, "--trial", trial.trial_id],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [params, metrics]
    assert json.loads(Path(params).read_text()) == trial.config
    assert yaml.safe_load(Path(metrics).read_text())["loss"] == trial.best_report("loss", "min")["loss"]
    refused = subprocess.run([sys.executable, "-m", "raytune_hpo", "export", single.path, "--params",
                              str(tmp_path / "p.txt")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert refused.returncode == 2 and not (tmp_path / "p.txt").exists()
    assert refused.stderr.splitlines() == [
        f"raytune-hpo: error: --params: cannot write '{tmp_path / 'p.txt'}': unknown suffix '.txt'; "
        "use .yaml, .yml or .json"]


def test_every_format_holds_the_configuration(single, tmp_path):
    for suffix, read in ((".yaml", yaml.safe_load), (".yml", yaml.safe_load), (".json", json.loads)):
        params, metrics = tmp_path / f"p{suffix}", tmp_path / f"m{suffix}"
        write_params_metrics(single, str(params), str(metrics))
        assert read(params.read_text()) == single.best_config
        assert read(metrics.read_text())["loss"] == single.best_metrics["loss"]
    # plain values: numpy's as numbers, tuples as lists, anything else as its text
    values = {"a": np.float32(0.5), "b": (np.int64(3), "x"), 1: {"c": np.array([1, 2])}, "d": ValueError("e"),
              "f": None, "g": np.bool_(True)}
    assert as_json(values) == {"a": 0.5, "b": [3, "x"], "1": {"c": [1, 2]}, "d": "e", "f": None, "g": True}
    assert [type(v) for v in as_json(values).values()] == [float, list, dict, str, type(None), bool]
    tricky = {"top": 1.5e-5, "nan": float("nan")}
    assert json.loads(_dvc._dump(tricky, ".json"))["nan"] is None  # JSON has no NaN


@pytest.fixture(scope="module")
def several(ray_cluster, tmp_path_factory):
    def two(config):
        for t in range(1, 3):
            hpo.report(error=config["x"] + 1 / t, size=1 - config["x"])

    storage = str(tmp_path_factory.mktemp("several") / "runs")
    return hpo.run(two, {"x": hpo.uniform(0.0, 1.0)}, metric=["error", "size"], mode=["min", "min"],
                   num_samples=3, seed=0, storage=storage, name="mo", verbose=0)


def test_several_objectives_need_a_trial_and_get_its_last_report(several, tmp_path):
    params, metrics = str(tmp_path / "params.yaml"), str(tmp_path / "metrics.json")
    front = list(several.pareto_front()["trial_id"])
    with pytest.raises(ConfigError, match=rf"^--trial: this experiment has 2 objectives \(error, size\), so no "
                                          rf"single best; choose a trial of its Pareto front with --trial ID: "
                                          rf"{', '.join(front)} \(res.pareto_front\(\)\)$"):
        write_params_metrics(several, params, metrics)
    assert not os.listdir(tmp_path)
    trial = several.trials[0]
    write_params_metrics(several, params, metrics, trial_id=trial.trial_id)
    assert yaml.safe_load(Path(params).read_text()) == trial.config
    assert json.loads(Path(metrics).read_text()) == {
        "trial_id": trial.trial_id, "training_iteration": 2, "error": trial.history[-1]["error"],
        "size": trial.history[-1]["size"]}


def test_what_cannot_be_written_is_refused_in_one_line_naming_the_field(single, tmp_path):
    ids = ", ".join(t.trial_id for t in single.trials)
    cases = [
        (dict(params="p.yaml", metrics="m.json", trial_id="nope"),
         f"--trial: no trial 'nope' in the experiment; its trials are {ids}"),
        (dict(params="p.ini", metrics=None), f"--params: cannot write '{tmp_path / 'p.ini'}': unknown suffix '.ini'; "
                                             "use .yaml, .yml or .json"),
        (dict(params="p.yaml", metrics="m"), f"--metrics: cannot write '{tmp_path / 'm'}': no suffix; "
                                             "use .yaml, .yml or .json"),
        (dict(params="same.json", metrics="same.json"),
         f"--metrics: '{tmp_path / 'same.json'}' is the --params file too; give each its own file"),
        (dict(params=None, metrics=None), "--params, --metrics: give at least one file to write"),
    ]
    for kwargs, message in cases:
        paths = {k: str(tmp_path / v) if k != "trial_id" and v else v for k, v in kwargs.items()}
        with pytest.raises(ConfigError) as refused:
            write_params_metrics(single, **paths)
        assert str(refused.value) == message
    (tmp_path / "m.json").mkdir()
    with pytest.raises(ConfigError, match=r"^--metrics: cannot write '.*/m.json' \(Is a directory\); "
                                          r"choose a writable path$"):
        write_params_metrics(single, None, str(tmp_path / "m.json"))
    assert os.listdir(tmp_path) == ["m.json"] and not os.listdir(tmp_path / "m.json")  # nothing written, no leftover
