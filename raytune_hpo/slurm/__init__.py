"""Experiments on SLURM allocations: the job script (``raytune-hpo slurm``), site profiles, and
the Ray cluster started inside the allocation (``raytune-hpo cluster up``)."""

from raytune_hpo.slurm._allocation import Allocation
from raytune_hpo.slurm._cluster import cluster_up, warn_driver
from raytune_hpo.slurm._profiles import Profile, load_profile, parse_time, profile_names
from raytune_hpo.slurm._sbatch import Job, make_job, render
from raytune_hpo.slurm._submit import log_path, prepare, submit

__all__ = [
    "Allocation",
    "Job",
    "Profile",
    "cluster_up",
    "load_profile",
    "log_path",
    "make_job",
    "parse_time",
    "prepare",
    "profile_names",
    "render",
    "submit",
    "warn_driver",
]
