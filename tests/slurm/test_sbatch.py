"""The job script: rendered for fixed experiments and options, it equals the recorded scripts
in ``cluster/`` (regenerate them with HPO_UPDATE_GOLDEN=1 and review the diff); bad options are
refused in one line, exit 2, before anything is written or submitted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from raytune_hpo.errors import ConfigError
from raytune_hpo.slurm import load_profile, make_job, parse_time, profile_names, render

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "/path/to/your/project"
TEMPLATES = {
    # cluster/ file: the profile and options it was rendered with
    "generic.sbatch": dict(profile="generic", nodes=2, gpus_per_node=4, time="04:00:00", partition="gpu"),
    "jean-zay.sbatch": dict(profile="jean-zay", nodes=2, gpus_per_node=4, time="20:00:00", account="abc"),
    "jean-zay-h100.sbatch": dict(profile="jean-zay", nodes=4, gpus_per_node=4, time="01:30:00", account="abc",
                                 constraint="h100"),
}


def template(profile: str, **options) -> str:
    return render(make_job(
        name="digits-tpe-asha", experiment_file=f"{PROJECT}/experiments/digits-tpe-asha.yaml",
        experiment_dir=f"{PROJECT}/runs/digits-tpe-asha", workdir=PROJECT,
        python=f"{PROJECT}/.venv/bin/python", profile=load_profile(profile), **options,
    ))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_rendered_script_equals_the_recorded_one(name):
    script = template(**TEMPLATES[name])
    path = ROOT / "cluster" / name
    if os.environ.get("HPO_UPDATE_GOLDEN"):
        path.write_text(script)
    assert script == path.read_text()


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


def test_every_profile_loads():
    assert {"generic", "jean-zay"} <= set(profile_names())
    for name in profile_names():
        assert load_profile(name).constraint(None) is not None


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
