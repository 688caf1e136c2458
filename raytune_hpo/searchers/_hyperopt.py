"""``tpe``: hyperopt's tree-structured Parzen estimator, through Ray's adapter."""

from __future__ import annotations

import math

from ray.tune.search.hyperopt import HyperOptSearch  # imports without hyperopt; asserts on use

from raytune_hpo._library import require
from raytune_hpo.searchers._common import CompletingSearcher, SearcherRequest, limit_concurrency
from raytune_hpo.space import Choice, Float, Integer, Param, Space


class TPESearcher(CompletingSearcher, HyperOptSearch):
    pass


def build_tpe(request: SearcherRequest):
    require("hyperopt", "hyperopt", "searcher 'tpe'")
    kwargs = request.library_options(HyperOptSearch.__init__, reserved=("space", "metric", "mode", "random_state_seed"))
    searcher = TPESearcher(
        hpo_space=request.space,
        space=to_hyperopt(request.space, request.name),
        metric=request.metric,
        mode=request.mode,
        random_state_seed=request.seed,
        **{"n_initial_points": 10, **kwargs},
    )
    return limit_concurrency(searcher, request.max_concurrent), {}


def to_hyperopt(space: Space, searcher: str = "tpe") -> dict:
    """A flat dict of hyperopt expressions, one per parameter, labelled by path; a grid or a
    Ray-sampled domain is refused naming ``searcher``."""
    hp = require("hyperopt", "hyperopt", f"searcher {searcher!r}").hp

    def expr(name: str, p: Param):
        if isinstance(p, Choice):
            return hp.choice(name, list(range(len(p.options))))
        if isinstance(p, Integer):
            q = p.q or 1
            if p.log:
                return hp.qloguniform(name, math.log(p.low), math.log(p.high - 1), q)
            return hp.quniform(name, p.low, p.high - 1, q)
        # searchable() refused grids and Ray domains, so what is left is a Float
        assert isinstance(p, Float)
        if p.log:
            if p.q:
                return hp.qloguniform(name, math.log(p.low), math.log(p.high), p.q)
            return hp.loguniform(name, math.log(p.low), math.log(p.high))
        return hp.quniform(name, p.low, p.high, p.q) if p.q else hp.uniform(name, p.low, p.high)

    return {name: expr(name, p) for name, p in space.searchable(searcher).items()}
