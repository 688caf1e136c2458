"""``tpe`` (formerly ``optuna``, a name it still answers to): Optuna's TPE sampler, through
Ray's adapter.

Optuna's own defaults since 5.0, made explicit: with one objective, multivariate TPE (the
parameters modelled jointly, where independent TPE, hyperopt's, models each alone; the
optimiser benchmark in README measures the gap) and the constant liar (a running trial counts
as a bad one while it runs, so that trials proposed side by side do not gather where the last
finished trial was good). With several objectives,
Optuna's multi-objective TPE (Ozaki et al. 2020), independent per parameter as Optuna has it;
outcome constraints natively (Optuna's constrained TPE: an infeasible trial is never among the
good ones, the less it violates, the nearer). hyperopt's TPE is searcher ``hyperopt``
(:mod:`._hyperopt`).

:func:`optuna_searcher` builds any Optuna sampler behind that adapter: ``gp`` (:mod:`._gp`),
``cmaes`` (:mod:`._cmaes`), ``nsga2`` and ``nsga3`` (:mod:`._nsga`) are built by it too, over
the space as Optuna distributions (:func:`to_optuna`).

Several objectives: the study has one direction per objective, and a trial is told the values
of its last report (the report that stands for a trial: :mod:`raytune_hpo._objectives`); a
trial without every objective is told pruned. Constraints, for the samplers flagged
``native_constraints``: each trial's constraint values, the largest over its reports, in
Optuna's convention (0 or less feasible; :func:`._constrained.constraint_values`), are set on the
Optuna trial (``Trial.set_constraint``, one key per constrained metric) before it is told, and
every Optuna sampler reads them from there (``FrozenTrial.constraints``). That is Optuna 5's way:
its samplers' ``constraints_func`` argument is deprecated since 5.0 (a FutureWarning on every
build, removed in 7.0), and ``searcher_options.constraints_func`` is refused: constraints are
``hpo.run(constraints=...)``. A trial is feasible for Optuna exactly when its violation in
:class:`~raytune_hpo._objectives.Objectives` is 0.

A conditional space is asked of each Optuna trial define-by-run (:class:`DefineByRun`): a
branch first, then only the parameters of the option drawn, so an Optuna trial holds exactly
the active parameters. ``tpe`` then defaults to ``multivariate=True, group=True``:
multivariate TPE models the parameters jointly, and ``group`` splits the space into the groups
of parameters that occur together (one per combination of branches) and models each apart,
which is how Optuna's TPE copes with a space that changes from trial to trial (Optuna's own
recommendation for define-by-run spaces with conditions); without ``group``, multivariate TPE
falls back to independent sampling for every parameter not in every trial.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ray.tune.search.optuna import OptunaSearch  # imports without optuna; asserts on use

from raytune_hpo._library import require
from raytune_hpo._objectives import Constraint, Objectives
from raytune_hpo._warm_start import WarmTrial
from raytune_hpo.errors import ConfigError
from raytune_hpo.searchers._common import CompletingSearcher, SearcherRequest, limit_concurrency
from raytune_hpo.searchers._constrained import Peaks
from raytune_hpo.space import Choice, Float, Integer, Param, Space


class OptunaSearcher(CompletingSearcher, OptunaSearch):
    """Ray's Optuna adapter, suggestions completed through our space; any sampler, one
    objective or several; ``constraints`` set on each Optuna trial before it is told (see the
    module's docstring). Its state (Ray's adapter pickles the whole object) holds the running
    trials' constraint values."""

    _peaks: Peaks | None = None  # a searcher saved before constraints existed restores without

    def __init__(self, hpo_space: Space, constraints: tuple[Constraint, ...] = (), **kwargs: Any):
        self._peaks = Peaks(constraints) if constraints else None
        super().__init__(hpo_space=hpo_space, **kwargs)

    def warm_start(self, trials: Sequence[WarmTrial], objectives: Objectives) -> None:
        """Each earlier trial a completed Optuna trial of the study: its active parameters
        with their distributions, its standing value(s), and with one objective every
        reported iteration as an intermediate value. A value Optuna's distribution does not
        hold (off a step's grid) leaves the trial out."""
        import optuna

        study = self._ot_study
        assert study is not None  # set up with the space, when the searcher was built
        space = (
            self._space.distributions if isinstance(self._space, DefineByRun) else cast(Mapping[str, Any], self._space)
        )
        for trial in trials:
            params = {name: value for name, value in trial.values.items() if name in space}
            standing = trial.standing(objectives)
            intermediate = {} if objectives.several else trial.curve(objectives.primary)
            try:
                frozen = optuna.trial.create_trial(
                    params=params,
                    distributions={name: space[name] for name in params},
                    value=None if objectives.several else standing,
                    values=standing if objectives.several else None,
                    intermediate_values=intermediate,
                )
            except ValueError:  # a value outside its distribution
                continue
            study.add_trial(frozen)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self._peaks is not None and trial_id in self._ot_trials and trial_id not in self._completed_trials:
            self._peaks.add(trial_id, result)
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and trial_id not in self._completed_trials:
            if self._peaks is not None:
                if result:  # the last report: a stopped trial's reaches the searcher only here
                    self._peaks.add(trial_id, result)
                values = self._peaks.pop(trial_id)
                if values is not None and not error:
                    for c, value in zip(self._peaks.constraints, values):
                        ot_trial.set_constraint(c.metric, value)
            if result and isinstance(self.metric, list) and any(result.get(m) is None for m in self.metric):
                result = None  # Optuna takes every objective or none: told pruned (failed on error)
        super().on_trial_complete(trial_id, result, error)


OptunaTPESearcher = OptunaSearcher  # the name pickled in experiments saved before gp and cmaes


def optuna_searcher(
    request: SearcherRequest,
    sampler: str,
    defaults: Mapping[str, Any] | None = None,
    extra: str = "optuna",
    needs: tuple[str, ...] = (),
):
    """``optuna.samplers.<sampler>``, seeded and given ``searcher_options`` (checked against
    its signature; ``n_initial_points`` is ``n_startup_trials`` where the sampler has it;
    ``constraints_func`` is refused) over ``defaults``, behind Ray's Optuna adapter, given
    every objective, and the constraints where the searcher is flagged ``native_constraints``.
    ``needs``: other modules the sampler imports, each required with ``extra``."""
    from raytune_hpo.searchers._registry import get_searcher

    user = f"searcher {request.name!r}"
    optuna = require("optuna", extra, user)
    for module in needs:
        require(module, extra, user)
    distributions = to_optuna(space=request.space, searcher=request.name, extra=extra)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from raytune_hpo.searchers._optuna_samplers import picklable_sampler  # imports optuna

    sampler_class = picklable_sampler(sampler)
    takes_startup = "n_startup_trials" in inspect.signature(sampler_class.__init__).parameters
    kwargs = request.library_options(
        sampler_class.__init__,
        aliases={"n_initial_points": "n_startup_trials"} if takes_startup else None,
        reserved=("seed", "constraints_func"),
    )
    objectives = request.objectives
    constraints = objectives.constraints if get_searcher(request.name).native_constraints else ()
    if constraints and "set_constraint" not in vars(optuna.trial.Trial):  # Optuna 5 has it
        raise ConfigError(
            f"constraints: searcher {request.name!r} needs optuna>=5.0 for them (installed: "
            f"{optuna.__version__}); pip install -U 'optuna>=5'"
        )
    searcher = OptunaSearcher(
        hpo_space=request.space,
        constraints=constraints,
        space=DefineByRun(distributions, request.space.conditions) if request.space.conditional else distributions,
        metric=list(objectives.metrics) if objectives.several else request.metric,
        mode=list(objectives.modes) if objectives.several else request.mode,
        sampler=sampler_class(seed=request.seed, **{**(defaults or {}), **kwargs}),
    )
    return limit_concurrency(searcher, request.max_concurrent), {}


def build_tpe(request: SearcherRequest):
    """``tpe``: Optuna's TPE with its own defaults made explicit, so that they hold whatever
    Optuna's version (see the module's docstring)."""
    defaults: dict[str, Any] = {"n_startup_trials": 10, "constant_liar": True}
    if not request.objectives.several:
        defaults["multivariate"] = True
    if not request.space.conditional:
        return optuna_searcher(request, "TPESampler", defaults=defaults)
    with warnings.catch_warnings():  # 'group' is experimental in Optuna 5: said on every build
        warnings.filterwarnings("ignore", message="Argument ``group`` is an experimental feature")
        return optuna_searcher(request, "TPESampler", defaults={**defaults, "multivariate": True, "group": True})


@dataclass(frozen=True)
class DefineByRun:
    """A conditional space asked of an Optuna trial: each parameter in the space's order (a
    branch before its options' parameters), only where every branch option it needs was
    drawn. Optuna's define-by-run form; a class rather than a closure, since Ray pickles the
    searcher with its space."""

    distributions: Mapping[str, Any]  # Optuna distributions by path (to_optuna)
    conditions: Mapping[str, tuple[tuple[str, int], ...]]  # Space.conditions

    def __call__(self, trial: Any) -> None:
        from optuna.distributions import CategoricalDistribution, IntDistribution

        drawn: dict[str, Any] = {}
        for name, d in self.distributions.items():
            if not all(drawn.get(branch) == i for branch, i in self.conditions[name]):
                continue
            if isinstance(d, CategoricalDistribution):
                drawn[name] = trial.suggest_categorical(name, d.choices)
            elif isinstance(d, IntDistribution):
                drawn[name] = trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
            else:
                drawn[name] = trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)


def to_optuna(space: Space, searcher: str = "optuna", extra: str = "optuna") -> dict:
    """A flat dict of Optuna distributions, one per parameter, keyed by path (a choice's
    choices are its options' indices); a grid or a Ray-sampled domain is refused naming
    ``searcher``."""
    require("optuna", extra, f"searcher {searcher!r}")
    return {name: optuna_distribution(p) for name, p in space.searchable(searcher).items()}


def optuna_distribution(p: Param, choices: Sequence[Any] | None = None):
    """Optuna's distribution of a number parameter, or of a choice over ``choices`` (default:
    its options' indices)."""
    from optuna import distributions as dist

    if isinstance(p, Choice):
        return dist.CategoricalDistribution(list(choices) if choices is not None else list(range(len(p.options))))
    if isinstance(p, Integer):
        # Optuna takes no step on a log scale; Space.complete applies q in that case.
        int_step = 1 if p.log else (p.q or 1)
        return dist.IntDistribution(p.low, p.high - 1, log=p.log, step=int_step)
    assert isinstance(p, Float)  # searchable() refused grids and Ray domains
    step = p.q if (p.q and not p.log) else None
    high = p.high
    if step is not None:  # Optuna wants high on the grid low + k*step
        high = p.low + math.floor((p.high - p.low) / step + 1e-9) * step
    return dist.FloatDistribution(p.low, high, log=p.log, step=step)
