"""``optuna``: Optuna's TPE sampler, through Ray's adapter.

:func:`optuna_searcher` builds any Optuna sampler behind that adapter: ``gp``
(:mod:`._gp`) and ``cmaes`` (:mod:`._cmaes`) are built by it too, over the space as Optuna
distributions (:func:`to_optuna`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ray.tune.search.optuna import OptunaSearch  # imports without optuna; asserts on use

from raytune_hpo._library import require
from raytune_hpo.searchers._common import CompletingSearcher, SearcherRequest, limit_concurrency
from raytune_hpo.space import Choice, Float, Integer, Param, Space


class OptunaSearcher(CompletingSearcher, OptunaSearch):
    """Ray's Optuna adapter, suggestions completed through our space; any sampler."""


OptunaTPESearcher = OptunaSearcher  # the name pickled in experiments saved before gp and cmaes


def optuna_searcher(
    request: SearcherRequest,
    sampler: str,
    defaults: Mapping[str, Any] | None = None,
    extra: str = "optuna",
    needs: tuple[str, ...] = (),
):
    """``optuna.samplers.<sampler>``, seeded and given ``searcher_options`` (checked against
    its signature; ``n_initial_points`` is ``n_startup_trials``) over ``defaults``, behind
    Ray's Optuna adapter. ``needs``: other modules the sampler imports, each required
    with ``extra``."""
    user = f"searcher {request.name!r}"
    optuna = require("optuna", extra, user)
    for module in needs:
        require(module, extra, user)
    distributions = to_optuna(space=request.space, searcher=request.name, extra=extra)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler_class = getattr(optuna.samplers, sampler)
    kwargs = request.library_options(
        sampler_class.__init__,
        aliases={"n_initial_points": "n_startup_trials"},
        reserved=("seed",),
    )
    searcher = OptunaSearcher(
        hpo_space=request.space,
        space=distributions,
        metric=request.metric,
        mode=request.mode,
        sampler=sampler_class(seed=request.seed, **{**(defaults or {}), **kwargs}),
    )
    return limit_concurrency(searcher, request.max_concurrent), {}


def build_optuna(request: SearcherRequest):
    return optuna_searcher(request, "TPESampler", defaults={"n_startup_trials": 10})


def to_optuna(space: Space, searcher: str = "optuna", extra: str = "optuna") -> dict:
    """A flat dict of Optuna distributions, one per parameter, keyed by path; a grid or a
    Ray-sampled domain is refused naming ``searcher``."""
    dist = require("optuna", extra, f"searcher {searcher!r}").distributions

    def distribution(p: Param):
        if isinstance(p, Choice):
            return dist.CategoricalDistribution(list(range(len(p.options))))
        if isinstance(p, Integer):
            # Optuna takes no step on a log scale; Space.complete applies q in that case.
            int_step = 1 if p.log else (p.q or 1)
            return dist.IntDistribution(p.low, p.high - 1, log=p.log, step=int_step)
        # searchable() refused grids and Ray domains, so what is left is a Float
        assert isinstance(p, Float)
        step = p.q if (p.q and not p.log) else None
        high = p.high
        if step is not None:  # Optuna wants high on the grid low + k*step
            high = p.low + math.floor((p.high - p.low) / step + 1e-9) * step
        return dist.FloatDistribution(p.low, high, log=p.log, step=step)

    return {name: distribution(p) for name, p in space.searchable(searcher).items()}
