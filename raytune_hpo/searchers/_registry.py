"""Searcher names, what each needs, and how each is built."""

from __future__ import annotations

from dataclasses import dataclass, replace

from raytune_hpo._library import call_factory, lookup
from raytune_hpo.searchers._common import SearcherRequest


@dataclass(frozen=True)
class SearcherInfo:
    name: str
    summary: str
    factory: str  # "module:function", imported when the searcher is built
    extra: str | None = None  # the pip extra that brings its library
    schedulers: tuple[str, ...] | None = None  # the only schedulers it runs with; None: any
    # The searcher↔scheduler contract (raytune_hpo._contract): it learns from every rung and
    # counts paused trials apart (a RungLearner); it proposes each trial for its bracket.
    learns_from_rungs: bool = False
    follows_brackets: bool = False
    # It takes several objectives (raytune_hpo._objectives); it is given the constraints
    # itself (each Optuna trial's constraint values) rather than seeing infeasible trials as
    # the worst (raytune_hpo.searchers._constrained).
    several_objectives: bool = False
    native_constraints: bool = False
    # It learns from results (not random, grid): with constraints and not native_constraints,
    # it is given infeasible trials as the worst.
    learns: bool = True
    # It takes a conditional space (raytune_hpo.space: choices whose options hold parameters)
    # in its own form: only the chosen option's parameters are sampled and learnt.
    conditional: bool = False
    # It learns from an earlier experiment's trials before it proposes (raytune_hpo._warm_start):
    # it has a warm_start(trials, objectives) method.
    warm_start: bool = False

    def build(self, request: SearcherRequest):
        return call_factory(self.factory, request)


_PACKAGE = "raytune_hpo.searchers"
_TPE = SearcherInfo(
    "tpe",
    "tree-structured Parzen estimator (Optuna's TPESampler): multivariate with one objective (the "
    "parameters modelled jointly), constant liar (running trials taken as bad, so that concurrent "
    "proposals differ); several objectives (multi-objective TPE); constraints natively; conditional "
    "spaces define-by-run",
    f"{_PACKAGE}._optuna:build_tpe",
    "optuna",
    several_objectives=True,
    native_constraints=True,
    conditional=True,
    warm_start=True,
)
_SEARCHERS = [
    SearcherInfo(
        "random",
        "random sampling of the space (grids expanded)",
        f"{_PACKAGE}._basic:build_random",
        several_objectives=True,
        learns=False,
        conditional=True,
    ),
    SearcherInfo(
        "grid",
        "every combination of hpo.grid and hpo.choice values",
        f"{_PACKAGE}._basic:build_grid",
        several_objectives=True,
        learns=False,
        conditional=True,
    ),
    _TPE,
    # tpe's name before it meant Optuna's multivariate TPE (hyperopt's TPE is hyperopt now),
    # kept so that scripts and experiment files naming it run as before.
    replace(_TPE, name="optuna", summary="tpe under its former name (Optuna's TPESampler)"),
    SearcherInfo(
        "hyperopt",
        "hyperopt's tree-structured Parzen estimator (independent per parameter: tpe's former meaning); "
        "conditional spaces as nested choices",
        f"{_PACKAGE}._hyperopt:build_hyperopt",
        "hyperopt",
        conditional=True,
        warm_start=True,
    ),
    SearcherInfo(
        "gp",
        "Gaussian-process Bayesian optimisation (Optuna's GPSampler); one objective or several "
        "(log expected hypervolume improvement); constraints modelled natively; searches floats "
        "(log too), integers, choices; no grids, no conditional spaces",
        f"{_PACKAGE}._gp:build_gp",
        "optuna",
        several_objectives=True,
        native_constraints=True,
        warm_start=True,
    ),
    SearcherInfo(
        "nsga2",
        "NSGA-II genetic algorithm for several objectives (Optuna's NSGAIISampler): non-dominated "
        "sorting and crowding distance; constraints natively (constrained domination); no grids",
        f"{_PACKAGE}._nsga:build_nsga2",
        "optuna",
        several_objectives=True,
        native_constraints=True,
    ),
    SearcherInfo(
        "nsga3",
        "NSGA-III (Optuna's NSGAIIISampler): NSGA-II with reference directions instead of crowding "
        "distance, for three objectives or more (on two, like nsga2); constraints natively; no grids",
        f"{_PACKAGE}._nsga:build_nsga3",
        "optuna",
        several_objectives=True,
        native_constraints=True,
    ),
    SearcherInfo(
        "cmaes",
        "CMA-ES (Optuna's CmaEsSampler); searches floats (log too), integers; choices "
        "only drawn at random; no grids, no conditional spaces",
        f"{_PACKAGE}._cmaes:build_cmaes",
        "optuna",
    ),
    SearcherInfo(
        "bohb",
        "BOHB's density model over Hyperband budgets (hpbandster + ConfigSpace); conditional spaces "
        "as ConfigSpace conditions",
        f"{_PACKAGE}._bohb:build_bohb",
        "bohb",
        schedulers=("bohb", "hyperband"),
        learns_from_rungs=True,
        conditional=True,
        warm_start=True,
    ),
    SearcherInfo(
        "dehb",
        "differential evolution over Hyperband brackets (Awad et al. 2021); searches "
        "floats (log too), integers, choices; no grids; conditional spaces as vectors of every option's "
        "parameters",
        f"{_PACKAGE}._dehb:build_dehb",
        schedulers=("dehb",),
        learns_from_rungs=True,
        follows_brackets=True,
        conditional=True,
        warm_start=True,
    ),
    SearcherInfo(
        "evolution",
        "genetic algorithm (tournament, uniform crossover, mutation, elitism); "
        "searches floats (log too), integers, choices; no grids; conditional spaces as genes of every "
        "option's parameters, the chosen ones expressed",
        f"{_PACKAGE}._evolution:build_evolution",
        conditional=True,
        warm_start=True,
    ),
    SearcherInfo(
        "pso",
        "particle swarm (Nevergrad's PSO); searches floats (log too), integers, choices; "
        "no grids; conditional spaces as coordinates of every option's parameters",
        f"{_PACKAGE}._pso:build_pso",
        "nevergrad",
        conditional=True,
        warm_start=True,
    ),
]

REGISTRY: dict[str, SearcherInfo] = {s.name: s for s in _SEARCHERS}
SEARCHERS: dict[str, str] = {s.name: s.summary for s in _SEARCHERS}


def get_searcher(name: str) -> SearcherInfo:
    return lookup(REGISTRY, "searcher", name)
