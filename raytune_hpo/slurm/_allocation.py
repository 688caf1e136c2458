"""What SLURM gave this task: the job, this node, its CPUs, GPUs and memory. Ray's own
auto-detection sees the whole node, which other jobs share; these counts are ours."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from raytune_hpo.errors import ConfigError

_TRES_GPUS = re.compile(r"gres[/:]gpu(?::[\w.-]+)?[:=](\d+)")


@dataclass(frozen=True)
class Allocation:
    job_id: int
    restart_count: int
    node_index: int  # 0 runs the head and the driver
    node_name: str
    nodes: tuple[str, ...]
    cpus: int
    gpus: int
    memory_bytes: int | None
    launch_ip: str | None  # the batch node's address, i.e. the head's

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Allocation:
        if "SLURM_JOB_ID" not in env:
            raise ConfigError(
                "cluster up: not inside a SLURM job (no SLURM_JOB_ID); "
                "submit with `raytune-hpo slurm FILE ...`, which runs it under srun"
            )
        cpus = int(env.get("SLURM_CPUS_PER_TASK") or env.get("SLURM_CPUS_ON_NODE") or 1)
        return cls(
            job_id=int(env["SLURM_JOB_ID"]),
            restart_count=int(env.get("SLURM_RESTART_COUNT") or 0),
            node_index=int(env.get("SLURM_NODEID") or 0),
            node_name=env.get("SLURMD_NODENAME") or os.uname().nodename,
            nodes=node_names(env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""),
            cpus=cpus,
            gpus=gpu_count(env),
            memory_bytes=memory_bytes(env, cpus),
            launch_ip=env.get("SLURM_LAUNCH_NODE_IPADDR"),
        )


def gpu_count(env: Mapping[str, str]) -> int:
    """GPUs of this task: ``SLURM_GPUS_ON_NODE``, else ``SLURM_TRES_PER_TASK``, else the
    devices SLURM made visible.

    >>> gpu_count({"SLURM_TRES_PER_TASK": "cpu=8,gres/gpu:a100=2"})
    2
    >>> gpu_count({"CUDA_VISIBLE_DEVICES": "0,1,3"})
    3
    """
    if env.get("SLURM_GPUS_ON_NODE"):
        return int(env["SLURM_GPUS_ON_NODE"])
    match = _TRES_GPUS.search(env.get("SLURM_TRES_PER_TASK", ""))
    if match:
        return int(match.group(1))
    visible = env.get("CUDA_VISIBLE_DEVICES", "")
    return len([d for d in visible.split(",") if d.strip()]) if visible and visible != "NoDevFiles" else 0


def memory_bytes(env: Mapping[str, str], cpus: int) -> int | None:
    """The job's memory on this node (SLURM gives megabytes), or None where SLURM sets none."""
    if env.get("SLURM_MEM_PER_NODE"):
        return int(env["SLURM_MEM_PER_NODE"]) * 2**20
    if env.get("SLURM_MEM_PER_CPU"):
        return int(env["SLURM_MEM_PER_CPU"]) * cpus * 2**20
    return None


def node_names(nodelist: str) -> tuple[str, ...]:
    """``node[1-2]`` -> ``("node1", "node2")``, through SLURM's own ``scontrol``."""
    if not nodelist:
        return ()
    out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    return tuple(out.stdout.split())
