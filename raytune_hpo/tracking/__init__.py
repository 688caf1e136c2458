"""Tracking: every trial's configuration and reports kept where the experiment lives."""

from raytune_hpo.tracking._experiment_log import ExperimentLog
from raytune_hpo.tracking._mlflow import MLflowLog, check_mlflow_options
from raytune_hpo.tracking._tensorboard import TensorBoardLog

__all__ = ["ExperimentLog", "MLflowLog", "TensorBoardLog", "check_mlflow_options"]
