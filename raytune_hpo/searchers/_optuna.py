"""``optuna``: Optuna's TPE sampler, through Ray's adapter."""

from __future__ import annotations

from ray.tune.search.optuna import OptunaSearch  # imports without optuna; asserts on use

from raytune_hpo._library import require
from raytune_hpo.searchers._common import CompletingSearcher, SearcherRequest, limit_concurrency


class OptunaTPESearcher(CompletingSearcher, OptunaSearch):
    pass


def build_optuna(request: SearcherRequest):
    optuna = require("optuna", "optuna", "searcher 'optuna'")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = request.library_options(
        optuna.samplers.TPESampler.__init__,
        aliases={"n_initial_points": "n_startup_trials"}, reserved=("seed",),
    )
    sampler = optuna.samplers.TPESampler(seed=request.seed, **{"n_startup_trials": 10, **kwargs})
    searcher = OptunaTPESearcher(
        hpo_space=request.space,
        space=request.space.to_optuna(),
        metric=request.metric,
        mode=request.mode,
        sampler=sampler,
    )
    return limit_concurrency(searcher, request.max_concurrent), {}
