"""``dehb``: differential evolution over Hyperband's brackets, after Awad, Mallik & Hutter
(2021), "DEHB: Evolutionary Hyperband for scalable, robust and efficient hyperparameter
optimization". Written here (no library), as a Ray Tune ``Searcher`` that runs with the
``dehb`` scheduler: Hyperband's brackets (Li et al. 2018, Algorithm 1, as ``hyperband``) of
synchronous successive halving, whose promotions continue the trials from their checkpoints.

Every configuration is a vector in the unit cube, one coordinate per parameter (floats scaled
to [0, 1], of their logarithm for log-scaled ones; integers and choices as bins of [0, 1)).
DEHB keeps one *subpopulation* per budget (each rung's iterations): the configurations that
have run that budget, with the score each reported there.

- A new trial joins a known bracket (trials fill the brackets in order, as the scheduler
  places them), so its first budget b is known when it is proposed. Until the subpopulation
  of the smallest budget holds ``population_size`` members (by default the first rung of the
  largest bracket), trials are random: that is DEHB's random initial bracket.
- Afterwards every trial is a DE child for budget b: a *target* (the subpopulation of b in
  turn, round-robin); a *mutant* v = a + F (b - c) (rand/1, F = ``mutation_factor``, 0.5) from
  three distinct members of the *parent pool* — the best members of the subpopulation of the
  budget below b (DEHB's flow of information from low to high budgets), or of b itself at
  the smallest budget, or all members of all subpopulations while those hold fewer than
  three; coordinates outside [0, 1] are drawn afresh; and binomial crossover of the target
  with the mutant (``crossover_prob``, 0.5; one coordinate from the mutant at least).
- Selection: a child's score at its first budget replaces its target when it is as good or
  better. A trial that successive halving promotes to a higher budget enters that budget's
  subpopulation, replacing the worst member when the subpopulation is full and it is better.

Differences from the paper, where Ray's way of running trials decides: a promoted trial
continues from its checkpoint (the paper trains it again from scratch at the higher budget),
and the child of a higher rung is not re-bred from the promoted ones (successive halving
promotes them as they are).

It searches floats (log too, quantized), integers, and choices; not ``hpo.grid`` and not
Ray-sampled domains, which are refused in one line. A conditional space is what DE needs it to
be, a vector of fixed length: every parameter of every option has a coordinate, a branch's
coordinate is a bin per option, and a configuration holds only the parameters of the options
chosen (:meth:`Space.complete` drops the others), as the ``dehb`` package does with
ConfigSpace's ``deactivate_inactive_hyperparameters``. Inactive coordinates take part in
mutation and crossover all the same: they cost nothing to evaluate and carry values a later
child may switch its branch to. With ``seed=`` the same sequence of configurations comes on every run (the
experiment's trials start in order). ``max_concurrent`` limits the trials running at once,
not counting those paused at a rung. The whole state is saved with the experiment.

Options (:data:`OPTIONS`): ``mutation_factor`` (0.5), ``crossover_prob`` (0.5),
``population_size`` (the first rung of the largest bracket); the scheduler's
``reduction_factor`` (3) sets the brackets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from raytune_hpo._contract import Plan
from raytune_hpo._objectives import Objectives
from raytune_hpo._options import Option, OptionTable, is_number
from raytune_hpo._warm_start import WarmTrial
from raytune_hpo.schedulers._rungs import bracket_index
from raytune_hpo.searchers._common import (
    CompletingSearcher,
    PickledState,
    SearcherRequest,
    build_written_here,
    from_unit,
    to_unit,
)
from raytune_hpo.space import Choice, Float, Integer

OPTIONS = OptionTable(
    [
        Option("mutation_factor", float, default=0.5, above=0, high=2, help="F of the mutant a + F (b - c)"),
        Option(
            "crossover_prob", float, default=0.5, low=0, high=1, help="each coordinate's chance to come from the mutant"
        ),
        Option(
            "population_size",
            int,
            default=None,
            low=4,
            help="the smallest budget's subpopulation (default: the first rung of the largest bracket)",
        ),
    ]
)


class DifferentialEvolutionHyperband(PickledState, Searcher):
    """DEHB's proposals and selection on raw values (choices as indices); the brackets come
    from the paired scheduler through :meth:`follow_brackets`."""

    def __init__(
        self,
        params: Mapping[str, Float | Integer | Choice],
        metric: str | None = None,
        mode: str | None = None,
        seed: int | None = None,
        mutation_factor: float = 0.5,
        crossover_prob: float = 0.5,
        population_size: int | None = None,
        max_concurrent: int | None = None,
    ):
        # The options are checked against OPTIONS where the searcher is built (build_dehb).
        super().__init__(metric=metric, mode=mode)
        self.params = dict(params)
        self.mutation_factor = mutation_factor
        self.crossover_prob = crossover_prob
        self.population_size = population_size
        self.max_concurrent = max_concurrent
        self._running: set[str] = set()  # paused trials, waiting at a rung, do not count
        self._rng = np.random.default_rng(seed)
        self._plans: list[Plan] = []
        self._sizes: dict[int, int] = {}  # budget -> subpopulation size
        self._populations: dict[int, list[dict]] = {}  # budget -> [{"vector", "score"}]
        self._turn: dict[int, int] = {}  # budget -> the next target's index
        self._proposed = 0
        self._trials: dict[str, dict] = {}  # trial id -> {"vector", "budget", "target", "scores"}
        self._warm: list[tuple[np.ndarray, dict[int, float]]] = []  # until follow_brackets

    def warm_start(self, trials: Sequence[WarmTrial], objectives: Objectives) -> None:
        """Earlier trials, kept until the brackets are known (:meth:`follow_brackets`): then
        each joins the subpopulation of every budget it reported at, as a trial that ran there
        does (its coordinates of parameters it does not have drawn at random)."""
        for trial in trials:
            scores = {budget: self._score(value) for budget, value in trial.curve(objectives.primary).items()}
            self._warm.append((self._encode(trial.values), scores))

    def follow_brackets(self, plans: Sequence[Plan]) -> None:
        """The scheduler's brackets, in the order trials fill them; then the warm start's
        trials join the subpopulations."""
        self._plans = [[(int(n), int(r)) for n, r in plan] for plan in plans]
        for plan in self._plans:
            for n, r in plan:
                self._sizes[r] = max(self._sizes.get(r, 0), n)
        smallest = min(self._sizes)
        if self.population_size is not None:
            self._sizes[smallest] = self.population_size
        self._populations = {r: [] for r in sorted(self._sizes)}
        self._turn = {r: 0 for r in self._sizes}
        for vector, scores in self._warm:
            for budget, score in scores.items():
                if budget in self._populations:
                    self._join(budget, {"vector": vector, "score": score})
        self._warm = []

    # -- Ray's Searcher interface --------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict | None:
        if not self._plans:
            raise RuntimeError("the dehb searcher runs with the dehb scheduler, which gives it the brackets")
        if self.max_concurrent and len(self._running) >= self.max_concurrent:
            return None
        plan = self._plans[bracket_index(self._proposed, self._plans) % len(self._plans)]
        budget = plan[0][1]
        self._proposed += 1
        smallest = min(self._sizes)
        target = None
        if len(self._populations[smallest]) < self._sizes[smallest]:
            vector = self._rng.random(len(self.params))
        else:
            target = self._target(budget)
            vector = self._child(self._parent_pool(budget), target)
        self._trials[trial_id] = {"vector": vector, "budget": budget, "target": target, "scores": {}}
        self._running.add(trial_id)
        return self._decode(vector)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._observe(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and not error:
            self._observe(trial_id, result)
        self._trials.pop(trial_id, None)
        self._running.discard(trial_id)

    def on_pause(self, trial_id: str) -> None:
        """Told by the scheduler: the trial waits at a rung (it no longer counts as running)."""
        self._running.discard(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        self._running.add(trial_id)

    def get_state(self) -> dict:
        return {
            key: getattr(self, key)
            for key in ("_plans", "_sizes", "_populations", "_turn", "_proposed", "_trials", "_running")
        } | {"rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state.pop("rng")
        for key, value in state.items():
            setattr(self, key, value)

    # -- DE -----------------------------------------------------------------------------------

    def _target(self, budget: int) -> tuple[int, int] | None:
        """(budget, index) of the next member of the budget's subpopulation, in turn."""
        population = self._populations[budget]
        if not population:
            return None
        index = self._turn[budget] % len(population)
        self._turn[budget] += 1
        return budget, index

    def _parent_pool(self, budget: int) -> list[np.ndarray]:
        below = [r for r in self._populations if r < budget]
        source = self._populations[max(below)] if below else self._populations[budget]
        best = sorted(source, key=lambda m: m["score"])[: self._sizes[budget]]
        if len(best) < 3:
            best = [m for population in self._populations.values() for m in population]
        return [m["vector"] for m in best]

    def _child(self, pool: list[np.ndarray], target: tuple[int, int] | None) -> np.ndarray:
        if len(pool) < 3:
            return self._rng.random(len(self.params))
        a, b, c = (pool[i] for i in self._rng.choice(len(pool), size=3, replace=False))
        mutant = a + self.mutation_factor * (b - c)
        outside = (mutant < 0) | (mutant > 1)
        mutant[outside] = self._rng.random(int(outside.sum()))
        if target is None:
            return mutant
        parent = self._populations[target[0]][target[1]]["vector"]
        cross = self._rng.random(len(mutant)) < self.crossover_prob
        cross[self._rng.integers(len(mutant))] = True
        return np.where(cross, mutant, parent)

    def _observe(self, trial_id: str, result: dict) -> None:
        trial = self._trials.get(trial_id)
        iteration = result.get("training_iteration")
        value = result.get(self.metric)
        if trial is None or iteration not in self._populations or iteration in trial["scores"]:
            return
        if iteration < trial["budget"] or not is_number(value):
            return
        score = self._score(value)
        trial["scores"][iteration] = score
        member = {"vector": trial["vector"], "score": score}
        population = self._populations[iteration]
        target = trial["target"]
        if iteration == trial["budget"] and target is not None and target[0] == iteration:
            if score <= population[target[1]]["score"]:
                population[target[1]] = member
        else:
            self._join(iteration, member)

    def _score(self, value: Any) -> float:
        """Lower is better."""
        return float(value) if self.mode != "max" else -float(value)

    def _join(self, budget: int, member: dict) -> None:
        """``member`` into a budget's subpopulation: added while it is not full, then in place
        of the worst member if better."""
        population = self._populations[budget]
        if len(population) < self._sizes[budget]:
            population.append(member)
            return
        worst = max(range(len(population)), key=lambda i: population[i]["score"])
        if member["score"] < population[worst]["score"]:
            population[worst] = member

    def _encode(self, values: Mapping[str, Any]) -> np.ndarray:
        """The inverse of :meth:`_decode`, each value at the middle of its bin; a parameter
        without a value (not active) drawn at random."""
        vector = self._rng.random(len(self.params))
        for i, (name, p) in enumerate(self.params.items()):
            if name not in values:
                continue
            value = values[name]
            if isinstance(p, Choice):
                vector[i] = (int(value) + 0.5) / len(p.options)
            elif isinstance(p, Integer):
                low, high = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
                x = math.log(value + 0.5) if p.log else value + 0.5
                vector[i] = min(max((x - low) / (high - low), 0.0), 1.0)
            else:
                vector[i] = min(max(to_unit(p, float(value)), 0.0), 1.0)
        return vector

    def _decode(self, vector: np.ndarray) -> dict:
        config: dict[str, Any] = {}
        for u, (name, p) in zip(vector, self.params.items()):
            u = min(max(float(u), 0.0), 1.0)
            if isinstance(p, Choice):
                config[name] = min(int(u * len(p.options)), len(p.options) - 1)
            elif isinstance(p, Integer):
                low, high = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
                x = low + u * (high - low)
                config[name] = p.coerce(math.floor(math.exp(x) if p.log else x))
            else:
                config[name] = p.coerce(from_unit(p, u))
        return config


class DEHBSearcher(CompletingSearcher, DifferentialEvolutionHyperband):
    pass


def build_dehb(request: SearcherRequest):
    searcher = build_written_here(request, DEHBSearcher, OPTIONS, max_concurrent=request.max_concurrent)
    return searcher, {}
