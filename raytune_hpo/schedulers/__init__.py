"""Schedulers: one module per family, a registry that maps names to factories.

Every scheduler counts progress in ``training_iteration`` (one per ``hpo.report``).
"""

from raytune_hpo.schedulers._common import SchedulerRequest
from raytune_hpo.schedulers._registry import REGISTRY, SCHEDULERS, SchedulerInfo, get_scheduler
from raytune_hpo.schedulers._rungs import hyperband_brackets

__all__ = ["REGISTRY", "SCHEDULERS", "SchedulerInfo", "SchedulerRequest", "get_scheduler", "hyperband_brackets"]
