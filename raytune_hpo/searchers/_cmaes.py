"""``cmaes``: CMA-ES (covariance matrix adaptation evolution strategy) — Optuna's
``CmaEsSampler`` on the ``cmaes`` package, through the same Ray adapter as ``optuna``
(:func:`._optuna.optuna_searcher`).

CMA-ES samples each generation (``popsize`` trials, 4 + 3 ln(dimensions) by default) from a
multivariate normal over the numeric parameters, scaled to [0, 1], and moves its mean and
covariance towards the best of the generation. The first ``n_initial_points`` trials (1, as in
Optuna) are random; the search starts at the middle of the space.

What it searches:

- ``uniform``/``loguniform`` floats (log ones in log space), ``quniform`` (Optuna's stepped
  floats), ``qloguniform`` (rounded onto its grid by :meth:`Space.complete`);
- ``randint`` integers, as continuous values rounded (``with_margin=True``, CMA-ES with margin,
  keeps them from getting stuck on one value);
- nested groups (parameters are addressed by path); conditional parameters cannot be written
  in a space;
- ``choice`` parameters: **not by CMA-ES**, which has no categorical model. They are accepted,
  and Optuna samples each one at random (uniformly, seeded) on every trial, independently of
  the results: a choice that matters is not learned. Use ``gp``, ``tpe`` or ``hyperopt`` for a
  space where a choice matters, or fix it as a constant.

Refused in one line: ``hpo.grid`` and Ray-sampled domains (only ``grid`` and ``random`` take
them), and a space whose parameters are all choices (CMA-ES would be random search there).

With ``seed=`` and ``max_concurrent=1`` the sequence of configurations is the same on every run.
One objective only (``CmaEsSampler`` takes no more, and no constraints: with ``constraints=``
it sees an infeasible trial as the worst, :mod:`._constrained`).
Options: ``n_initial_points`` (= ``n_startup_trials``), ``sigma0``, ``x0``, ``popsize``,
``restart_strategy``, ``with_margin``, ``use_separable_cma``, any other ``CmaEsSampler`` argument.
"""

from __future__ import annotations

from raytune_hpo.errors import ConfigError
from raytune_hpo.searchers._common import SearcherRequest, searchable
from raytune_hpo.searchers._optuna import optuna_searcher
from raytune_hpo.space import Choice, display


def build_cmaes(request: SearcherRequest):
    params = searchable(request)
    choices = [name for name, p in params.items() if isinstance(p, Choice)]
    if choices and len(choices) == len(params):
        raise ConfigError(
            f"space.{display(choices[0])}: searcher 'cmaes' searches numeric parameters and "
            "samples choices at random, and this space has only choices; use searcher 'gp', "
            "'tpe' or 'hyperopt'"
        )
    # Choices are sampled at random by design (documented above): no warning per trial.
    return optuna_searcher(
        request,
        "CmaEsSampler",
        defaults={"warn_independent_sampling": False},
        needs=("cmaes",),
    )
