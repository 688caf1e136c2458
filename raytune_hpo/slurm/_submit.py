"""``raytune-hpo slurm FILE``: check the experiment and the options, keep the job script in the
experiment's folder, submit it with ``sbatch``, and say where to follow it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from raytune_hpo.errors import ConfigError, SubmissionRefused
from raytune_hpo.slurm._profiles import load_profile
from raytune_hpo.slurm._sbatch import LOG_NAME, make_job, render

SCRIPT_NAME = "job.sbatch"


def prepare(
    experiment_file: str,
    overrides: list[str],
    *,
    profile: str = "generic",
    resume: bool = False,
    python: str = sys.executable,
    **options,
):
    """The checked job and its script, from the file and the options of ``raytune-hpo slurm``."""
    from raytune_hpo.config import load_experiment
    from raytune_hpo.directory import META_FILE

    experiment = load_experiment(experiment_file, overrides)
    exists = os.path.exists(os.path.join(experiment.path, META_FILE))
    if exists and not resume:
        raise ConfigError(f"name: experiment {experiment.path!r} exists already; add --resume to continue it on SLURM")
    if resume and not exists:
        raise ConfigError(f"--resume: there is no experiment in {experiment.path!r} to continue; drop --resume")
    if not exists:
        experiment.plan(dry_run=True)  # every field checked before anything is submitted
    job = make_job(
        name=experiment.name,
        experiment_file=os.path.abspath(experiment_file),
        experiment_dir=experiment.path,
        workdir=os.getcwd(),
        python=python,
        profile=load_profile(profile),
        overrides=tuple(overrides),
        **options,
    )
    return job, render(job)


def submit(job, script: str) -> tuple[int, str]:
    """Write the script into the experiment's ``slurm/`` folder and ``sbatch`` it: the job id and
    the script's path."""
    if shutil.which("sbatch") is None:
        raise SubmissionRefused(
            "sbatch: not found on this machine; submit from a SLURM login node, or use --dry-run to see the script"
        )
    folder = os.path.join(job.experiment_dir, "slurm")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, SCRIPT_NAME)
    with open(path, "w") as f:
        f.write(script)
    done = subprocess.run(["sbatch", "--parsable", path], capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SubmissionRefused(f"sbatch refused the job: {reason} (script kept in {path})")
    return int(done.stdout.strip().split(";")[0]), path


def log_path(job, job_id: int) -> str:
    return os.path.join(job.experiment_dir, "slurm", LOG_NAME.replace("%j", str(job_id)))
