"""Tracking: every trial's configuration and reports kept where the experiment lives, and in
the trackers ``tracking=`` names (:mod:`._trackers`)."""

from raytune_hpo.tracking._experiment_log import ExperimentLog
from raytune_hpo.tracking._tensorboard import TensorBoardLog
from raytune_hpo.tracking._trackers import TRACKERS, check_tracking, tracking_callbacks

__all__ = ["TRACKERS", "ExperimentLog", "TensorBoardLog", "check_tracking", "tracking_callbacks"]
