"""The sbatch script of an experiment: one task per node runs ``raytune-hpo cluster up``; the
batch shell passes SLURM's time-limit warning on to it and exits with its exit code."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from raytune_hpo.errors import ConfigError
from raytune_hpo.slurm._profiles import Profile, format_time, parse_time

DEFAULT_SIGNAL_S = 300
LOG_NAME = "%j.out"  # in the experiment's slurm/ folder; requeued starts append to it


@dataclass(frozen=True)
class Job:
    """Everything the script says, checked. Paths are absolute."""

    name: str
    experiment_file: str
    experiment_dir: str
    workdir: str
    python: str
    profile: Profile
    nodes: int
    gpus_per_node: int
    cpus_per_task: int
    time_s: int
    signal_s: int
    max_requeues: int
    overrides: tuple[str, ...] = ()
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None


def make_job(
    *,
    name: str,
    experiment_file: str,
    experiment_dir: str,
    workdir: str,
    python: str,
    profile: Profile,
    nodes: int,
    gpus_per_node: int,
    cpus_per_gpu: int | None = None,
    cpus_per_node: int | None = None,
    time: str | None = None,
    signal_s: int | None = None,
    max_requeues: int = 3,
    overrides: tuple[str, ...] = (),
    partition: str | None = None,
    account: str | None = None,
    qos: str | None = None,
    constraint: str | None = None,
) -> Job:
    """Check the options of ``raytune-hpo slurm`` against each other and the site profile."""
    if nodes < 1:
        raise ConfigError(f"--nodes: must be at least 1, got {nodes}")
    if gpus_per_node < 0:
        raise ConfigError(f"--gpus-per-node: must be 0 or more, got {gpus_per_node}")
    if cpus_per_node is not None and cpus_per_node < 1:
        raise ConfigError(f"--cpus-per-node: must be at least 1, got {cpus_per_node}")
    if cpus_per_gpu is not None and cpus_per_gpu < 1:
        raise ConfigError(f"--cpus-per-gpu: must be at least 1, got {cpus_per_gpu}")
    if cpus_per_node is None:
        if gpus_per_node == 0:
            raise ConfigError("--cpus-per-node: a job without GPUs needs its CPUs per node, e.g. --cpus-per-node 8")
        cpus_per_node = gpus_per_node * (cpus_per_gpu or profile.cpus_per_gpu_for(constraint))
    if time is None:
        if profile.default_time is None:
            raise ConfigError(f"--time: required with the {profile.name} profile, e.g. --time 02:00:00")
        time_s = profile.default_time
    else:
        time_s = parse_time(time)
    if signal_s is None:
        # Time to save the state and stop the trials; a quarter of a short job at most.
        signal_s = min(DEFAULT_SIGNAL_S, max(10, time_s // 4))
    if signal_s < 10 or signal_s > 65535:
        raise ConfigError(f"--signal-seconds: must be between 10 and 65535, got {signal_s}")
    if signal_s >= time_s:
        raise ConfigError(
            f"--signal-seconds: {signal_s} s leaves no time to run in --time {format_time(time_s)}; "
            f"give a shorter warning, e.g. --signal-seconds {max(10, time_s // 4)}"
        )
    if max_requeues < 0:
        raise ConfigError(f"--max-requeues: must be 0 or more, got {max_requeues}")
    return Job(
        name=name,
        experiment_file=experiment_file,
        experiment_dir=experiment_dir,
        workdir=workdir,
        python=python,
        profile=profile,
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_node,
        time_s=time_s,
        signal_s=signal_s,
        max_requeues=max_requeues,
        overrides=tuple(overrides),
        partition=partition,
        account=profile.account(constraint, account),
        qos=qos or profile.qos_for(constraint, time_s),
        constraint=constraint,
    )


def render(job: Job) -> str:
    """The sbatch script, every line explained for the user who edits it."""
    q = shlex.quote
    directives = [
        f"--job-name={job.name}",
        f"--chdir={job.workdir}",
        f"--nodes={job.nodes}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={job.cpus_per_task}",
        *([f"--gres=gpu:{job.gpus_per_node}"] if job.gpus_per_node else []),
        f"--time={format_time(job.time_s)}",
        f"--signal=B:USR1@{job.signal_s}",
        "--requeue",
        "--open-mode=append",
        f"--output={job.experiment_dir}/slurm/{LOG_NAME}",
        *([f"--partition={job.partition}"] if job.partition else []),
        *([f"--constraint={job.constraint}"] if job.constraint else []),
        *([f"--account={job.account}"] if job.account else []),
        *([f"--qos={job.qos}"] if job.qos else []),
        *job.profile.directives,
    ]
    command = [
        job.python,
        "-m",
        "raytune_hpo",
        "cluster",
        "up",
        job.experiment_file,
        "--max-requeues",
        str(job.max_requeues),
    ]
    for override in job.overrides:
        command += ["--set", override]
    setup = job.profile.constraint(job.constraint).setup
    lines = [
        "#!/bin/bash",
        f"# raytune-hpo: experiment {job.name!r} on a Ray cluster spanning this allocation "
        f"(profile {job.profile.name}).",
        "# Written by `raytune-hpo slurm`; edit freely and submit again with `sbatch <this file>`.",
        *(f"#SBATCH {d}" for d in directives),
        "",
        "# One task per node: the first node runs Ray's head and the experiment's driver, every",
        "# node a Ray worker sized from this allocation, with token authentication, a per-job block",
        "# of ports and a node-local temp dir. A requeued start resumes the experiment.",
        *setup,
        'echo "raytune-hpo: job $SLURM_JOB_ID, start $((${SLURM_RESTART_COUNT:-0} + 1)), nodes $SLURM_JOB_NODELIST"',
        "srun --kill-on-bad-exit=1 " + " ".join(q(c) for c in command) + " &",
        "step=$!",
        f"# SLURM warns this shell {job.signal_s} s before the time limit (USR1); the warning goes on to",
        "# the driver alone, which saves the experiment and requeues the job.",
        'trap \'echo "raytune-hpo: time limit near, the experiment saves and requeues"; '
        + " ".join(q(c) for c in [job.python, "-m", "raytune_hpo", "cluster", "warn"])
        + "' USR1",
        "status=0",
        'wait "$step" || status=$?',
        'while kill -0 "$step" 2>/dev/null; do status=0; wait "$step" || status=$?; done',
        'echo "raytune-hpo: job step ended with exit code $status"',
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"
