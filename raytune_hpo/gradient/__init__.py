"""Gradient-based HPO: continuous hyperparameters (learning rate, weight decay, per-layer weight
decay, momentum) tuned by gradient descent on the validation loss, through truncated unrolled
SGD (``torch.func``). Discrete choices stay with a searcher; :func:`fit` runs both in one trial.
"""

from raytune_hpo.gradient.hypergradient import TUNABLE, HyperGradient
from raytune_hpo.gradient.trial import fit

__all__ = ["TUNABLE", "HyperGradient", "fit"]
