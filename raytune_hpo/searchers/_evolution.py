"""``evolution``: a genetic algorithm, written here (no library), as a Ray Tune ``Searcher``.

A steady-state GA suited to trials that finish one at a time:

- the first ``population_size`` trials (10) are random configurations (seeded);
- every later trial is a child: two parents, each the best of ``tournament_size`` (3)
  members of the population drawn at random (tournament selection), are mixed gene by gene
  with probability 1/2 each (uniform crossover; with probability ``1 - crossover_rate``
  the child is a copy of the first parent), then each gene mutates with probability
  ``mutation_rate`` (1 / number of parameters); a child identical to a parent has one gene
  mutated at least, and one identical to a configuration already proposed is bred anew;
- the population is the ``population_size`` most recently finished trials (a new one pushes
  out the oldest, as in regularized evolution, Real et al. 2019), except the ``elitism`` (2)
  best so far, which never leave (elitism). A failed trial, or one without a finite metric,
  does not enter it.

Mutation, by parameter kind:

- ``uniform``/``loguniform`` floats: a Gaussian step of ``mutation_scale`` (0.1) in the
  parameter's range scaled to [0, 1] (of its logarithm for log-scaled ones), reflected at
  the bounds; ``quniform``/``qloguniform`` ones are then rounded onto their grid;
- ``randint`` integers: half the time a step of ±1 (±q), else a fresh uniform draw
  (log-uniform where the integer is log-scaled);
- ``choice`` parameters: another of the options, uniformly.

It searches every primitive except ``hpo.grid`` and Ray-sampled domains (``sample_from``,
``randn``), which only ``grid`` and ``random`` take: they are refused in one line. Nested
groups are searched by path.

A conditional space is encoded as a genetic algorithm keeps one: every parameter of every
option is a gene, and a branch's gene is its option's index; only the genes that the branches
chosen leave active are *expressed* in the configuration, compared for novelty, and mutated.
The others are inherited through crossover as they are, a memory of the values that line
carried: a child that switches back to an option gets them again.

With ``seed=`` and ``max_concurrent=1`` the sequence of configurations is the same on every
run. The whole state (population, trials running, random generator) is saved with the
experiment, so after ``hpo.resume`` the search goes on where it stopped.

Options (:data:`OPTIONS`): ``population_size`` (10), ``tournament_size`` (3),
``crossover_rate`` (0.8), ``mutation_rate`` (1 / parameters), ``mutation_scale`` (0.1),
``elitism`` (2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from raytune_hpo._objectives import Objectives
from raytune_hpo._options import Option, OptionTable, is_number
from raytune_hpo._warm_start import WarmTrial
from raytune_hpo.searchers._common import (
    CompletingSearcher,
    PickledState,
    SearcherRequest,
    build_written_here,
    from_unit,
    limit_concurrency,
    to_unit,
)
from raytune_hpo.space import Choice, Float, Integer

Genes = dict  # parameter path -> value: floats and integers as in the configuration, choices as indices

_NOVELTY_TRIES = 20  # children drawn before a duplicate configuration is accepted

OPTIONS = OptionTable(
    [
        Option("population_size", int, default=10, low=2, help="members kept; the first this many trials are random"),
        Option("tournament_size", int, default=3, low=1, help="members drawn to pick each parent"),
        Option(
            "crossover_rate",
            float,
            default=0.8,
            low=0,
            high=1,
            help="the chance a child has two parents (else it copies one)",
        ),
        Option(
            "mutation_rate",
            float,
            default=None,
            low=0,
            high=1,
            help="each gene's chance to mutate (default 1 / number of parameters)",
        ),
        Option(
            "mutation_scale",
            float,
            default=0.1,
            above=0,
            help="a float gene's Gaussian step, in its range scaled to [0, 1]",
        ),
        Option("elitism", int, default=2, low=0, help="the best members, which never leave the population"),
    ]
)


class GeneticAlgorithm(PickledState, Searcher):
    """The algorithm on raw genes (choices as indices); :class:`EvolutionSearcher` completes
    its suggestions through the space."""

    def __init__(
        self,
        params: Mapping[str, Float | Integer | Choice],
        metric: str | None = None,
        mode: str | None = None,
        seed: int | None = None,
        population_size: int = 10,
        tournament_size: int = 3,
        crossover_rate: float = 0.8,
        mutation_rate: float | None = None,
        mutation_scale: float = 0.1,
        elitism: int = 2,
        conditions: Mapping[str, tuple[tuple[str, int], ...]] | None = None,
    ):
        # The options are checked against OPTIONS where the searcher is built (build_evolution).
        super().__init__(metric=metric, mode=mode)
        self.params = dict(params)
        self.conditions = dict(conditions or {})  # Space.conditions: the options each gene needs
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.crossover_rate = crossover_rate
        self.mutation_rate = 1 / len(self.params) if mutation_rate is None else mutation_rate
        self.mutation_scale = mutation_scale
        self.elitism = min(elitism, population_size)
        self._rng = np.random.default_rng(seed)
        self._population: list[dict] = []  # {"genes", "score" (lower is better), "born"}
        self._pending: dict[str, Genes] = {}
        self._seen: set = set()
        self._proposed = 0
        self._finished = 0

    # -- Ray's Searcher interface --------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict | None:
        for _ in range(_NOVELTY_TRIES):
            genes = self._breed() if self._population and self._proposed >= self.population_size else self._random()
            if _key(self.expressed(genes)) not in self._seen:
                break
        self._seen.add(_key(self.expressed(genes)))
        self._pending[trial_id] = genes
        self._proposed += 1
        return dict(genes)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        genes = self._pending.pop(trial_id, None)
        value = None if (error or not result) else result.get(self.metric)
        if genes is not None and is_number(value):
            self._join(genes, value)

    def warm_start(self, trials: Sequence[WarmTrial], objectives: Objectives) -> None:
        """Earlier trials join the population as finished trials do, in their order (the last
        ``population_size`` stay, the elite among all of them), their genes of parameters
        they do not have drawn at random; breeding starts at once when they fill it."""
        for trial in trials:
            genes = {
                name: trial.values[name] if name in trial.values else self._sample(p) for name, p in self.params.items()
            }
            self._seen.add(_key(self.expressed(genes)))
            self._join(genes, trial.standing(objectives))
        self._proposed = max(self._proposed, len(self._population))

    def _join(self, genes: Genes, value: Any) -> None:
        score = float(value) if self.mode != "max" else -float(value)
        self._population.append({"genes": genes, "score": score, "born": self._finished})
        self._finished += 1
        if len(self._population) > self.population_size:
            elite = set(map(id, sorted(self._population, key=lambda m: m["score"])[: self.elitism]))
            oldest = min((m for m in self._population if id(m) not in elite), key=lambda m: m["born"])
            self._population.remove(oldest)

    def get_state(self) -> dict:
        return {
            "rng": self._rng.bit_generator.state,
            "population": self._population,
            "pending": self._pending,
            "seen": self._seen,
            "proposed": self._proposed,
            "finished": self._finished,
        }

    def set_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state["rng"]
        self._population, self._pending, self._seen = state["population"], state["pending"], state["seen"]
        self._proposed, self._finished = state["proposed"], state["finished"]

    # -- the operators -------------------------------------------------------------------------

    def _random(self) -> Genes:
        return {name: self._sample(p) for name, p in self.params.items()}

    def _sample(self, p) -> Any:
        if isinstance(p, Choice):
            return int(self._rng.integers(len(p.options)))
        if isinstance(p, Integer):
            if p.log:
                return p.coerce(math.floor(math.exp(self._rng.uniform(math.log(p.low), math.log(p.high)))))
            return p.coerce(int(self._rng.integers(p.low, p.high)))
        return p.coerce(from_unit(p, self._rng.uniform()))

    def tournament(self, exclude: dict | None = None) -> dict:
        """The best of ``tournament_size`` members drawn without replacement (``exclude``
        left out when another member is there)."""
        pool = [m for m in self._population if m is not exclude] or self._population
        drawn = self._rng.choice(len(pool), size=min(self.tournament_size, len(pool)), replace=False)
        return min((pool[i] for i in drawn), key=lambda m: m["score"])

    def crossover(self, a: Genes, b: Genes) -> Genes:
        """Uniform crossover: each gene from ``a`` or ``b`` with probability 1/2."""
        return {name: (a if self._rng.random() < 0.5 else b)[name] for name in self.params}

    def expressed(self, genes: Genes) -> Genes:
        """The genes the configuration holds: those whose branch options were chosen."""
        return {
            name: value
            for name, value in genes.items()
            if all(genes[branch] == i for branch, i in self.conditions.get(name, ()))
        }

    def mutate(self, genes: Genes, force: bool = False) -> Genes:
        """Each expressed gene mutated with probability ``mutation_rate``; ``force``: one at
        least."""
        active = list(self.expressed(genes))
        names = [n for n in active if self._rng.random() < self.mutation_rate]
        if force and not names:
            names = [active[int(self._rng.integers(len(active)))]]
        return {n: self.mutate_gene(self.params[n], v) if n in names else v for n, v in genes.items()}

    def mutate_gene(self, p, value: Any) -> Any:
        if isinstance(p, Choice):
            others = [i for i in range(len(p.options)) if i != value]
            return int(self._rng.choice(others)) if others else value
        if isinstance(p, Integer):
            if self._rng.random() >= 0.5:
                return self._sample(p)
            step = (p.q or 1) * (1 if self._rng.random() < 0.5 else -1)
            if not p.low <= value + step <= p.high - 1:
                step = -step
            return p.coerce(value + step)
        u = to_unit(p, value) + self._rng.normal(0.0, self.mutation_scale)
        return p.coerce(from_unit(p, _reflect(u)))

    def _breed(self) -> Genes:
        first = self.tournament()
        parents = [first["genes"]]
        if len(self._population) > 1 and self._rng.random() < self.crossover_rate:
            parents.append(self.tournament(exclude=first)["genes"])
        child = self.crossover(*parents) if len(parents) == 2 else dict(parents[0])
        child = self.mutate(child)
        if any(self.expressed(child) == self.expressed(p) for p in parents):
            child = self.mutate(child, force=True)
        return child


class EvolutionSearcher(CompletingSearcher, GeneticAlgorithm):
    pass


def build_evolution(request: SearcherRequest):
    searcher = build_written_here(request, EvolutionSearcher, OPTIONS, conditions=request.space.conditions)
    return limit_concurrency(searcher, request.max_concurrent), {}


def _reflect(u: float) -> float:
    """``u`` folded into [0, 1] by reflection at the bounds."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


def _key(genes: Genes) -> tuple:
    return tuple(sorted(genes.items()))
