"""Tracking: every trial's configuration and reports kept where the experiment lives."""

from raytune_hpo.tracking._result_log import ResultLog

__all__ = ["ResultLog"]
