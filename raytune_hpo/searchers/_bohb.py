"""``bohb``: hpbandster's BOHB model (a TPE-like kernel density estimator) over ConfigSpace 1.x,
paired with Hyperband.

Where Ray's ``TuneBOHB`` falls short, this adapter mends it:

- quantized parameters: ConfigSpace 1.x removed ``q``; the space keeps it in each
  hyperparameter's ``meta`` (:func:`to_configspace`) and :meth:`Space.complete` rounds every suggestion onto its grid
  (Ray's adapter drops the quantization with a warning);
- types: integers and choices come back as Python objects, not ``numpy.int64`` indices;
- determinism: hpbandster draws from NumPy's global random state, which anything else in the
  driver also draws from; here it gets a random state of its own, seeded from ``seed`` and
  saved with the searcher, so a seed gives the same sequence of configurations.

A conditional space is ConfigSpace's own form of one: a branch is a categorical
hyperparameter of its option indices, and each parameter inside option ``i`` is active under
``EqualsCondition(parameter, branch, i)`` (a nested branch's parameters under their own
branch, which ConfigSpace makes inactive whenever that branch is). ConfigSpace samples only
the active ones, and hpbandster's kernel density model imputes the inactive ones of the
configurations it learns from (its ``impute_conditional_data``), as BOHB was written to.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence

import numpy as np
from ray.tune.search.bohb import TuneBOHB

from raytune_hpo._library import require
from raytune_hpo._objectives import Objectives
from raytune_hpo._warm_start import WarmTrial
from raytune_hpo.searchers._common import CompletingSearcher, SearcherRequest
from raytune_hpo.space import Choice, Float, Integer, Param, Space


class BOHBSearcher(CompletingSearcher, TuneBOHB):
    def __init__(self, *, seed: int | None = None, **kwargs):
        self._rng_state = np.random.RandomState(seed).get_state()
        super().__init__(seed=seed, **kwargs)

    @contextlib.contextmanager
    def _own_random_state(self):
        outside = np.random.get_state()
        np.random.set_state(self._rng_state)
        try:
            with warnings.catch_warnings():
                # statsmodels' KDE divides by zero on single-level categoricals: harmless.
                warnings.simplefilter("ignore", RuntimeWarning)
                yield
        finally:
            self._rng_state = np.random.get_state()
            np.random.set_state(outside)

    def warm_start(self, trials: Sequence[WarmTrial], objectives: Objectives) -> None:
        """Each report of each earlier trial an observation of its configuration at the budget
        of its iteration, as a rung's result is one: BOHB's model at a budget is built from
        the observations there."""
        from ray.tune.search.bohb.bohb_search import _BOHBJobWrapper

        with self._own_random_state():
            for trial in trials:
                for budget, value in trial.curve(objectives.primary).items():
                    self.bohber.new_result(_BOHBJobWrapper(self._metric_op * value, budget, trial.values))

    def suggest(self, trial_id: str):
        with self._own_random_state():
            return super().suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict):
        with self._own_random_state():
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        with self._own_random_state():
            super().on_trial_complete(trial_id, result, error)


def build_bohb(request: SearcherRequest):
    require("ConfigSpace", "bohb", "searcher 'bohb'")
    require("hpbandster", "bohb", "searcher 'bohb'")
    from hpbandster.optimizers.config_generators.bohb import BOHB

    bohb_config = request.library_options(
        BOHB.__init__,
        aliases={"n_initial_points": "min_points_in_model"},
        reserved=("configspace",),
    )
    return BOHBSearcher(
        hpo_space=request.space,
        space=to_configspace(request.space, seed=request.seed, searcher=request.name),
        bohb_config=bohb_config,
        metric=request.metric,
        mode=request.mode,
        seed=request.seed,
        max_concurrent=request.max_concurrent or 0,
    ), {}


def to_configspace(space: Space, seed: int | None = None, searcher: str = "bohb"):
    """A ConfigSpace 1.x ``ConfigurationSpace``; quantization kept in ``meta={"q": ...}``
    (ConfigSpace 1.x has no ``q``); a branch's parameters under an ``EqualsCondition`` on it
    (see the module's docstring). A grid or a Ray-sampled domain is refused naming
    ``searcher``."""
    cs = require("ConfigSpace", "bohb", f"searcher {searcher!r}")

    def hyperparameter(name: str, p: Param):
        if isinstance(p, Choice):
            return cs.CategoricalHyperparameter(name, list(range(len(p.options))))
        if isinstance(p, Integer):
            return cs.UniformIntegerHyperparameter(name, p.low, p.high - 1, log=p.log, meta={"q": p.q})
        # searchable() refused grids and Ray domains, so what is left is a Float
        assert isinstance(p, Float)
        return cs.UniformFloatHyperparameter(name, p.low, p.high, log=p.log, meta={"q": p.q})

    configspace = cs.ConfigurationSpace(seed=seed)
    hyperparameters = {name: hyperparameter(name, p) for name, p in space.searchable(searcher).items()}
    configspace.add(list(hyperparameters.values()))
    configspace.add(
        [
            cs.EqualsCondition(hyperparameters[name], hyperparameters[needs[-1][0]], needs[-1][1])
            for name, needs in space.conditions.items()
            if needs
        ]
    )
    return configspace
