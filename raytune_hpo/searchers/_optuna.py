"""``optuna``: Optuna's TPE sampler, through Ray's adapter.

:func:`optuna_searcher` builds any Optuna sampler behind that adapter: ``gp``
(:mod:`._gp`) and ``cmaes`` (:mod:`._cmaes`) are built by it too.
"""

from __future__ import annotations

from typing import Any, Mapping

from ray.tune.search.optuna import OptunaSearch  # imports without optuna; asserts on use

from raytune_hpo._library import require
from raytune_hpo.searchers._common import (
    CompletingSearcher,
    SearcherRequest,
    limit_concurrency,
    searchable,
)


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
    searchable(request)  # a grid is refused naming this searcher, not 'optuna'
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler_class = getattr(optuna.samplers, sampler)
    kwargs = request.library_options(
        sampler_class.__init__, aliases={"n_initial_points": "n_startup_trials"}, reserved=("seed",),
    )
    searcher = OptunaSearcher(
        hpo_space=request.space,
        space=request.space.to_optuna(),
        metric=request.metric,
        mode=request.mode,
        sampler=sampler_class(seed=request.seed, **{**(defaults or {}), **kwargs}),
    )
    return limit_concurrency(searcher, request.max_concurrent), {}


def build_optuna(request: SearcherRequest):
    return optuna_searcher(request, "TPESampler", defaults={"n_startup_trials": 10})
