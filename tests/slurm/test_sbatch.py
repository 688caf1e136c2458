"""The job script: ``raytune-hpo slurm FILE OPTIONS --dry-run`` prints the recorded scripts in
``cluster/`` for the options cluster/README.md lists (regenerate them with HPO_UPDATE_GOLDEN=1
and review the diff); the site profiles say what their files say; bad options are refused in
one line, exit 2, before anything is written or submitted."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raytune_hpo.errors import ConfigError
from raytune_hpo.slurm import load_profile, make_job, parse_time, profile_names, render

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "raytune_hpo" / "slurm" / "profiles"  # the shipped profile files
PROJECT = "/path/to/your/project"
EXPERIMENT_FILE = "experiments/digits-tpe-asha.yaml"
TRAINABLE = ("experiments/__init__.py", "experiments/digits.py", "experiments/_training.py")


def recorded_scripts() -> dict[str, list[str]]:
    """cluster/README.md's table: each recorded script and the options it was written with."""
    table = re.findall(r"^\| `([\w.-]+\.sbatch)` \| `([^`]*)` \|$", (ROOT / "cluster" / "README.md").read_text(), re.M)
    return {name: options.split() for name, options in table}


def test_every_recorded_script_is_in_the_table():
    assert sorted(recorded_scripts()) == sorted(p.name for p in (ROOT / "cluster").glob("*.sbatch"))
    assert len(recorded_scripts()) >= 3


@pytest.mark.parametrize("name", sorted(recorded_scripts()))
def test_recorded_script_is_what_the_dry_run_prints(tmp_path, name):
    """As cluster/README.md promises: ``raytune-hpo slurm experiments/digits-tpe-asha.yaml
    OPTIONS --dry-run``, run in a project folder, prints the recorded script once the folder's
    path reads /path/to/your/project (regenerate with HPO_UPDATE_GOLDEN=1, review the diff)."""
    project = tmp_path.resolve() / "project"
    (project / "experiments").mkdir(parents=True)
    for part in (EXPERIMENT_FILE, *TRAINABLE):  # the experiment file and its trainable's modules
        shutil.copy(ROOT / part, project / part)
    # The CLI writes its own interpreter (sys.executable) into the script: here, the Python of
    # the project's virtual environment.
    as_cli = "import sys; sys.executable = sys.argv[1]; from raytune_hpo.cli import main; sys.exit(main(sys.argv[2:]))"
    done = subprocess.run(
        [sys.executable, "-c", as_cli, f"{project}/.venv/bin/python",
         "slurm", EXPERIMENT_FILE, *recorded_scripts()[name], "--dry-run"],
        capture_output=True, text=True, cwd=project)
    assert done.returncode == 0, done.stderr
    assert str(project) in done.stdout  # the folder it ran in, to be read as PROJECT
    script = done.stdout.replace(str(project), PROJECT)
    path = ROOT / "cluster" / name
    if os.environ.get("HPO_UPDATE_GOLDEN"):
        path.write_text(script)
    assert script == path.read_text()
    written = {p.relative_to(project).as_posix() for p in project.rglob("*") if "__pycache__" not in p.parts}
    assert written == {"experiments", EXPERIMENT_FILE, *TRAINABLE}  # a dry run writes nothing


def test_jean_zay_rules():
    jz = load_profile("jean-zay")
    assert [jz.qos_for(None, parse_time(t)) for t in ("02:00:00", "02:00:01", "20:00:00", "99:00:00")] == [
        "qos_gpu-dev", "qos_gpu-t3", "qos_gpu-t3", "qos_gpu-t4"]
    assert jz.qos_for("h100", parse_time("00:30:00")) == "qos_gpu_h100-dev"
    with pytest.raises(ConfigError, match="exceeds the jean-zay limit of 100:00:00"):
        jz.qos_for(None, parse_time("100:00:01"))
    assert jz.account("h100", "abc") == "abc@h100"
    with pytest.raises(ConfigError, match="--account: 'abc@v100' .* write PROJECT@h100"):
        jz.account("h100", "abc@v100")
    job = make_job(name="x", experiment_file="/x.yaml", experiment_dir="/runs/x", workdir="/", python="python",
                   profile=jz, nodes=1, gpus_per_node=4)
    assert job.time_s == 600 and job.qos == "qos_gpu-dev" and job.cpus_per_task == 40  # the site's 10 minutes
    assert "--hint=nomultithread" in render(job)


def test_every_profile_loads_with_what_its_file_says():
    assert set(profile_names()) == {p.stem for p in PROFILES.glob("*.yaml")} >= {"generic", "jean-zay"}
    for name in profile_names():
        with open(PROFILES / f"{name}.yaml") as f:
            data = yaml.safe_load(f)  # the file itself, read without the loader under test
        profile = load_profile(name)
        assert profile.name == data["name"] == name
        assert profile.cpus_per_gpu == data["cpus_per_gpu"]
        assert list(profile.directives) == (data["directives"] or [])
        assert set(profile.constraints) == set(data["constraints"]) and "default" in data["constraints"]
        for kind, rules in data["constraints"].items():
            got = profile.constraint(kind)
            assert list(got.setup) == (rules.get("setup") or [])
            assert [q for q, _ in got.qos] == [q["name"] for q in rules.get("qos") or []]
            assert got.account_suffix == rules.get("account_suffix")
            assert profile.cpus_per_gpu_for(kind) == (rules.get("cpus_per_gpu") or data["cpus_per_gpu"])
        # No --constraint, or one the file does not list: the "default" rules.
        assert profile.constraint(None) == profile.constraint("no-such-kind") == profile.constraint("default")
        assert list(profile.constraint(None).setup) == (data["constraints"]["default"].get("setup") or [])


def raytune_hpo(*args, cwd):
    return subprocess.run([sys.executable, "-m", "raytune_hpo", *args], capture_output=True, text=True, cwd=cwd)


EXPERIMENT = ROOT / "experiments" / "synthetic-branin-bohb.yaml"
GOOD = ["--nodes", "2", "--gpus-per-node", "2", "--time", "00:10:00"]


@pytest.mark.parametrize("options, message", [
    (["--nodes", "0", "--gpus-per-node", "2", "--time", "00:10:00"], "--nodes: must be at least 1, got 0"),
    (["--nodes", "two", "--gpus-per-node", "2"], "argument --nodes: must be an integer, got 'two'"),
    (["--nodes", "1", "--gpus-per-node", "-1", "--time", "00:10:00"], "--gpus-per-node: must be 0 or more"),
    (["--nodes", "1", "--gpus-per-node", "0", "--time", "00:10:00"], "--cpus-per-node: a job without GPUs"),
    (GOOD[:4] + ["--time", "10min"], "--time: '10min' is not a time; write HH:MM:SS"),
    (GOOD[:4] + ["--time", "00:00:30"], "--time: 00:00:30 is under SLURM's one-minute resolution"),
    (GOOD[:4], "--time: required with the generic profile"),
    (GOOD + ["--profile", "jean-zey"], "--profile: unknown profile 'jean-zey'; use one of generic, jean-zay"),
    (GOOD + ["--signal-seconds", "600"], "--signal-seconds: 600 s leaves no time to run in --time 00:10:00"),
    (GOOD[:4] + ["--time", "101:00:00", "--profile", "jean-zay"], "--time: 101:00:00 exceeds the jean-zay limit"),
    (GOOD + ["--profile", "jean-zay", "--account", "abc@a100"], "--account: 'abc@a100' books hours on another"),
    (GOOD + ["--set", "num_samples=0"], "num_samples: must be a positive integer"),
])
def test_bad_option_is_one_line_and_exit_2_with_nothing_written(tmp_path, options, message):
    done = raytune_hpo("slurm", str(EXPERIMENT), *options, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_dry_run_prints_the_script_and_writes_nothing(tmp_path):
    done = raytune_hpo("slurm", str(EXPERIMENT), *GOOD, "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("#!/bin/bash") and f"--chdir={tmp_path}" in done.stdout
    assert "#SBATCH --gres=gpu:2" in done.stdout and "#SBATCH --signal=B:USR1@150" in done.stdout  # a quarter of 10 minutes
    assert list(tmp_path.iterdir()) == []
