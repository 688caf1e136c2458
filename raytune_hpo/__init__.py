"""raytune-hpo: hyperparameter optimisation of deep-learning models on GPU clusters, on Ray Tune.

    >>> import raytune_hpo as hpo
    >>> sorted(hpo.SEARCHERS)[:2]
    ['bohb', 'cmaes']

See README.md for the whole API; every public name is re-exported here.
"""

from raytune_hpo.errors import (
    ConfigError,
    DamagedExperiment,
    HPOError,
    Interrupted,
    StorageFull,
    SubmissionRefused,
)
from raytune_hpo.results import Results, Trial, load
from raytune_hpo.runner import resume, run
from raytune_hpo.schedulers import SCHEDULERS, hyperband_brackets
from raytune_hpo.searchers import SEARCHERS
from raytune_hpo.space import (
    Space,
    choice,
    grid,
    loguniform,
    qloguniform,
    quniform,
    randint,
    uniform,
)
from raytune_hpo.trainable import cache, load_checkpoint, report

__version__ = "0.1.0"

__all__ = [
    "SCHEDULERS",
    "SEARCHERS",
    "ConfigError",
    "DamagedExperiment",
    "HPOError",
    "Interrupted",
    "Results",
    "Space",
    "StorageFull",
    "SubmissionRefused",
    "Trial",
    "cache",
    "choice",
    "grid",
    "hyperband_brackets",
    "load",
    "load_checkpoint",
    "loguniform",
    "qloguniform",
    "quniform",
    "randint",
    "report",
    "resume",
    "run",
    "uniform",
]
