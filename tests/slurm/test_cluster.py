"""``raytune-hpo slurm`` end to end on a real two-node SLURM (tests/slurm/conftest.py): the Ray
cluster spans both nodes and their 4 fake GPUs, two jobs share the nodes at once, a job that
hits its time limit requeues and resumes, and nobody without the job's token joins its cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import raytune_hpo as hpo

# Skipped, with the reason, where root, SLURM or MUNGE is missing (tests/conftest.py).
pytestmark = pytest.mark.slurm

HERE = Path(__file__).parent


def experiment(folder: Path, name: str, *, num_samples: int, steps: int, sleep: float) -> Path:
    shutil.copy(HERE / "slurm_trainable.py", folder / "slurm_trainable.py")
    path = folder / f"{name}.yaml"
    path.write_text(f"""\
name: {name}
trainable: slurm_trainable:train
metric: loss
mode: min
searcher: random
num_samples: {num_samples}
resources: {{cpu: 1, gpu: 1}}
space:
  x: {{uniform: [0.0, 1.0]}}
  steps: {steps}
  sleep: {sleep}
storage: runs
seed: 0
""")
    return path


def submit(slurm, folder: Path, path: Path, *options: str) -> str:
    done = subprocess.run([sys.executable, "-m", "raytune_hpo", "slurm", str(path), *options], cwd=folder,
                          env=environment(slurm, folder), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return re.search(r"submitted job (\d+)", done.stdout).group(1)


def environment(slurm, folder: Path) -> dict[str, str]:
    # The job inherits this; HPO_CLUSTER_DIR keeps the rendezvous (token) folder in the test's tmp.
    return {**slurm.env, "HPO_CLUSTER_DIR": str(folder / "rendezvous")}


def log_of(folder: Path, name: str, job: str) -> str:
    path = folder / "runs" / name / "slurm" / f"{job}.out"
    return path.read_text(errors="replace") if path.exists() else "(no log)"


def check_finished(folder: Path, name: str, trials: int, steps: int, job: str) -> hpo.Results:
    results = hpo.load(str(folder / "runs" / name))
    frame = results.dataframe()
    summary = f"{frame[['trial_id', 'status', 'iterations']]}\n{log_of(folder, name, job)}"
    assert len(frame) == trials and set(frame["status"]) == {"TERMINATED"}, summary
    assert set(frame["iterations"]) == {steps}, summary
    return results


def test_one_command_runs_on_both_nodes_and_all_their_gpus(slurm, tmp_path, ray_cluster):
    path = experiment(tmp_path, "spread", num_samples=8, steps=4, sleep=0.5)
    job = submit(slurm, tmp_path, path, "--nodes", "2", "--gpus-per-node", "2", "--cpus-per-node", "2",
                 "--time", "00:05:00")
    state = slurm.wait(job, timeout=300, poll=1)
    log = log_of(tmp_path, "spread", job)
    assert state == "COMPLETED", log
    assert "Ray cluster up: 2 nodes, 4 CPUs, 4 GPUs" in log
    frame = check_finished(tmp_path, "spread", 8, 4, job).dataframe()
    assert set(frame["node"]) == {"node1", "node2"}
    assert set(zip(frame["node"], frame["last.gpu"])) == {(n, g) for n in ("node1", "node2") for g in (0, 1)}
    script = tmp_path / "runs" / "spread" / "slurm" / "job.sbatch"
    assert script.read_text().startswith("#!/bin/bash") and "#SBATCH --nodes=2" in script.read_text()
    assert not (tmp_path / "rendezvous" / f"{job}-0").exists()  # the token went with the job
    leftovers = subprocess.run(["pgrep", "-f", f"hpo-{job}-"], capture_output=True, text=True).stdout
    assert leftovers == "", "Ray processes of the job outlived it"
    import ray

    # Another Ray on the same machine (this test session's) lived through the job's teardown.
    assert ray.get(ray.remote(lambda: "alive").remote(), timeout=60) == "alive"


def test_driver_names_the_nodes_that_never_joined(slurm, tmp_path):
    """node2 runs `sleep` instead of its Ray worker: the driver gives up after --join-timeout."""
    path = experiment(tmp_path, "lonely", num_samples=1, steps=1, sleep=0.1)
    (tmp_path / "tasks.conf").write_text(
        f"0 {sys.executable} -m raytune_hpo cluster up {path} --join-timeout 10\n1 sleep 40\n")
    job = slurm.submit(f"""#!/bin/bash
#SBATCH --nodes=2 --ntasks-per-node=1 --cpus-per-task=1 --time=00:03:00 --output={tmp_path}/job.out
srun --kill-on-bad-exit=1 --multi-prog {tmp_path}/tasks.conf
""", cwd=tmp_path, env=environment(slurm, tmp_path))
    assert slurm.wait(job, timeout=120, poll=1) == "FAILED"
    log = (tmp_path / "job.out").read_text()
    assert "1 of 2 nodes never joined: node2 (waited 10 s;" in log, log
    assert not (tmp_path / "runs" / "lonely" / "hpo.json").exists()  # no experiment was started


def test_two_jobs_share_the_nodes_at_once(slurm, tmp_path):
    jobs = {}
    for name in ("first", "second"):
        path = experiment(tmp_path, name, num_samples=4, steps=6, sleep=0.5)
        jobs[name] = submit(slurm, tmp_path, path, "--nodes", "2", "--gpus-per-node", "1", "--cpus-per-node", "1",
                            "--time", "00:05:00")
    for name, job in jobs.items():
        assert slurm.wait(job, timeout=300, poll=1) == "COMPLETED", log_of(tmp_path, name, job)
        check_finished(tmp_path, name, 4, 6, job)
    first, second = (slurm.job_info(job) for job in jobs.values())
    assert second["StartTime"] < first["EndTime"], "the jobs did not run at the same time"


def test_time_limit_requeues_and_resumes_and_the_cluster_admits_only_the_token(slurm, tmp_path):
    """--time 2 min, warning 60 s before: SLURM's signal comes 30-60 s into the run (it checks
    every 30 s); the trials need 60 s after the cluster's start; requeued starts resume them
    (as many as a loaded machine needs: each start costs ~15 s of Ray start-up here)."""
    path = experiment(tmp_path, "limited", num_samples=4, steps=30, sleep=2.0)
    job = submit(slurm, tmp_path, path, "--nodes", "2", "--gpus-per-node", "2", "--cpus-per-node", "2",
                 "--time", "00:02:00", "--signal-seconds", "60", "--max-requeues", "8")
    rendezvous = tmp_path / "rendezvous" / f"{job}-0"
    deadline = time.monotonic() + 120
    while "Ray cluster up" not in log_of(tmp_path, "limited", job):
        assert time.monotonic() < deadline, log_of(tmp_path, "limited", job)
        time.sleep(0.5)
    token = (rendezvous / "token").read_text()
    assert stat.S_IMODE(os.stat(rendezvous / "token").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(rendezvous).st_mode) == 0o700
    address = json.loads((rendezvous / "address").read_text())["address"]
    (tmp_path / "wrong").write_text("0" * 64)
    intruders = {  # the job's token first: the cluster lives until the time-limit warning
        "the job's token": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(rendezvous / "token")},
        "no token": {"RAY_AUTH_MODE": "disabled"},
        "wrong token": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "wrong")},
    }
    joined, outputs = {}, {}
    for who, variables in intruders.items():
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        attempt = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address={address!r}); print('GPUs', ray.cluster_resources()['GPU'])"],
            env={**env, **variables, "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=120)
        joined[who] = attempt.returncode == 0 and "GPUs 4.0" in attempt.stdout
        outputs[who] = attempt.stdout + attempt.stderr
    expected = {"the job's token": True, "no token": False, "wrong token": False}
    assert joined == expected, {who: outputs[who][-600:] for who in joined if joined[who] != expected[who]}
    # Refused by the running cluster for the token, not for being unreachable.
    assert all("Unauthenticated" in outputs[who] for who in ("no token", "wrong token")), {
        who: text[-600:] for who, text in outputs.items()}

    assert slurm.wait(job, timeout=900, poll=2) == "COMPLETED", log_of(tmp_path, "limited", job)
    log = log_of(tmp_path, "limited", job)
    assert "time limit near, the experiment saves and requeues" in log
    assert re.search(rf"requeueing job {job} \(requeue 1 of at most 8\)", log), log
    assert "resuming the experiment" in log and ", start 2," in log
    assert int(slurm.job_info(job)["Restarts"]) >= 1
    check_finished(tmp_path, "limited", 4, 30, job)
    # No secret in what the job leaves: the experiment's folder never holds the token.
    for file in (tmp_path / "runs").rglob("*"):
        if file.is_file():
            assert token.encode() not in file.read_bytes(), file
    assert not rendezvous.exists()
