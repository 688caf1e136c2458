"""``pso``: particle swarm optimisation — Nevergrad's ``PSO``, through Ray's
``NevergradSearch`` adapter.

A swarm of ``popsize`` particles (10 here; Nevergrad's own default, 40, leaves a budget of a
few dozen trials as random search) starts at random points; each trial moves one particle
by its velocity, pulled towards its own best point and the swarm's best (``omega``, ``phip``,
``phig``). Each parameter is one or more coordinates of the particle:

- ``uniform`` floats and ``loguniform`` ones (a log-scaled coordinate, ``ng.p.Log``);
  ``quniform``/``qloguniform`` move continuously and are rounded onto their grid by
  :meth:`Space.complete`;
- ``randint`` integers: a continuous coordinate over [low - 0.5, high - 0.5] (log-scaled where
  the integer is), rounded;
- ``choice`` parameters: one coordinate per option, the option with the largest wins
  (``ng.p.Choice(..., deterministic=True)``), so a particle's position fixes its choices;
- nested groups (parameters are addressed by path);
- a conditional space: every parameter of every option is a coordinate, a branch one more
  ``Choice``; a particle's configuration holds only the parameters of the options its position
  chooses (:meth:`Space.complete` drops the others), and the inactive coordinates move with
  the swarm all the same.

Refused in one line: ``hpo.grid`` and Ray-sampled domains (only ``grid`` and ``random`` take
them). With ``seed=`` (it seeds the parametrization's random state, from which the swarm
draws) and ``max_concurrent=1`` the sequence of configurations is the same on every run; the
searcher (swarm included) is saved with the experiment and goes on after ``hpo.resume``.

Options: ``popsize`` (10), ``omega``, ``phip``, ``phig``, ``transform``, ``qo``, ``sqo``, ``so``
(the arguments of ``ng.optimizers.ConfPSO``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ray.tune.search.nevergrad import NevergradSearch  # imports without nevergrad; asserts on use

from raytune_hpo._library import require
from raytune_hpo._objectives import Objectives
from raytune_hpo._warm_start import WarmTrial
from raytune_hpo.searchers._common import (
    CompletingSearcher,
    SearcherRequest,
    limit_concurrency,
    searchable,
)
from raytune_hpo.space import Choice, Integer


class PSOSearcher(CompletingSearcher, NevergradSearch):
    def warm_start(self, trials: Sequence[WarmTrial], objectives: Objectives) -> None:
        """Each earlier trial told to the swarm as a point it did not ask for (Nevergrad's
        PSO takes such points into its particles), with its standing value; the coordinates
        of parameters it does not have drawn from the parametrization (seeded)."""
        optimizer = self._nevergrad_opt
        assert optimizer is not None  # set up with the space, when the searcher was built
        for trial in trials:
            point = {**optimizer.parametrization.sample().value, **trial.values}
            candidate = optimizer.parametrization.spawn_child(new_value=point)
            optimizer.tell(candidate, self._metric_op * float(trial.standing(objectives)))


def parametrization(params: dict, seed: int | None):
    """Our parameters as one Nevergrad ``Dict`` keyed by path; its random state seeded."""
    ng = require("nevergrad", "nevergrad", "searcher 'pso'")

    def parameter(p):
        if isinstance(p, Choice):
            return ng.p.Choice(list(range(len(p.options))), deterministic=True)
        low, high = (p.low - 0.5, p.high - 0.5) if isinstance(p, Integer) else (p.low, p.high)
        if p.log:
            return ng.p.Log(lower=low, upper=high)
        return ng.p.Scalar(lower=low, upper=high)

    space = ng.p.Dict(**{name: parameter(p) for name, p in params.items()})
    if seed is not None:
        space.random_state = np.random.RandomState(seed)
    return space


def build_pso(request: SearcherRequest):
    params = searchable(request)
    ng = require("nevergrad", "nevergrad", "searcher 'pso'")
    options = request.library_options(ng.optimizers.ConfPSO.__init__)
    searcher = PSOSearcher(
        hpo_space=request.space,
        optimizer=ng.optimizers.ConfPSO(**{"popsize": 10, **options}),
        optimizer_kwargs={"num_workers": request.max_concurrent or 1},
        space=parametrization(params, request.seed),
        metric=request.metric,
        mode=request.mode,
    )
    return limit_concurrency(searcher, request.max_concurrent), {}
