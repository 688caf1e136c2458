"""The SLURM cluster of tests/slurm/conftest.py works as the other tests expect it to."""

from __future__ import annotations

import time

import pytest

# Skipped, with the reason, where root, SLURM or MUNGE is missing (tests/conftest.py).
pytestmark = pytest.mark.slurm

STEP_ENV = 'echo "$SLURMD_NODENAME|$CUDA_VISIBLE_DEVICES|$SLURM_CPUS_ON_NODE|$SLURM_GPUS_ON_NODE"'


def test_a_two_node_job_runs_a_task_on_each_node_with_both_its_gpus(slurm):
    job = slurm.submit(f"#!/bin/bash\nsrun bash -c '{STEP_ENV}'\n",
                       "--nodes=2", "--ntasks-per-node=1", "--gres=gpu:2")

    assert slurm.wait(job, timeout=60) == "COMPLETED", slurm.output(job)
    lines = sorted(line.split("|") for line in slurm.output(job).splitlines() if "|" in line)
    assert [line[0] for line in lines] == ["node1", "node2"], lines
    for node, devices, cpus, gpus in lines:
        assert devices.split(",") == ["0", "1"], (node, devices)
        assert gpus == "2" and int(cpus) >= 1, (node, cpus, gpus)
    info = slurm.job_info(job)
    assert info["NodeList"] == "node[1-2]" and info["NumNodes"] == "2", info


def test_two_jobs_submitted_at_once_run_side_by_side_and_complete(slurm):
    # Each takes both GPUs of a node, so they can only run at once on different nodes.
    script = "#!/bin/bash\necho $SLURMD_NODENAME $CUDA_VISIBLE_DEVICES\nsleep 1\n"
    jobs = [slurm.submit(script, "--gres=gpu:2") for _ in range(2)]

    assert [slurm.wait(job, timeout=60) for job in jobs] == ["COMPLETED", "COMPLETED"]
    nodes = {slurm.output(job).split()[0] for job in jobs}
    assert nodes == {"node1", "node2"}, [slurm.output(job) for job in jobs]
    first, second = (slurm.job_info(job) for job in jobs)
    assert first["StartTime"] <= second["EndTime"] and second["StartTime"] <= first["EndTime"]


def test_a_job_that_requeues_itself_runs_again_within_seconds(slurm):
    # AuthInfo=cred_expire=5: SLURM holds a requeued job back cred_expire + 1 s (120 + 1 by default).
    script = (
        "#!/bin/bash\n"
        'echo "run ${SLURM_RESTART_COUNT:-unset} $(date +%s.%N)"\n'
        '[ -n "$SLURM_RESTART_COUNT" ] && exit 0\n'
        "scontrol requeue $SLURM_JOB_ID\n"
        "sleep 60\n"
    )
    started = time.monotonic()
    job = slurm.submit(script, "--requeue", "--open-mode=append")

    assert slurm.wait(job, timeout=60) == "COMPLETED", slurm.job_info(job)
    assert time.monotonic() - started < 30
    runs = [line.split() for line in slurm.output(job).splitlines() if line.startswith("run ")]
    assert [r[1] for r in runs] == ["unset", "1"], slurm.output(job)
    assert 4 < float(runs[1][2]) - float(runs[0][2]) < 20, runs
    assert slurm.job_info(job)["Restarts"] == "1"
