"""``tpe``: hyperopt's tree-structured Parzen estimator, through Ray's adapter."""

from __future__ import annotations

from ray.tune.search.hyperopt import HyperOptSearch  # imports without hyperopt; asserts on use

from raytune_hpo._library import require
from raytune_hpo.searchers._common import CompletingSearcher, SearcherRequest, limit_concurrency


class TPESearcher(CompletingSearcher, HyperOptSearch):
    pass


def build_tpe(request: SearcherRequest):
    require("hyperopt", "hyperopt", "searcher 'tpe'")
    kwargs = request.library_options(
        HyperOptSearch.__init__, reserved=("space", "metric", "mode", "random_state_seed")
    )
    searcher = TPESearcher(
        hpo_space=request.space,
        space=request.space.to_hyperopt(),
        metric=request.metric,
        mode=request.mode,
        random_state_seed=request.seed,
        **{"n_initial_points": 10, **kwargs},
    )
    return limit_concurrency(searcher, request.max_concurrent), {}
