"""``sha``: synchronous successive halving (Jamieson & Talwalkar 2016), one bracket of all the
experiment's trials. Every trial runs ``grace_period`` iterations (the first rung) and waits
there, paused, until every trial has reached it; then the top 1/``reduction_factor`` go on to
the next rung (``reduction_factor`` times as many iterations, counted from the start) and the
others are stopped; and so on, the last rung being ``max_t``.

The bracket's bookkeeping (:class:`Bracket`, pure Python) and the scheduler that runs a series
of brackets (:class:`SynchronousHalving`) are shared with ``hyperband``, whose brackets are
brackets of synchronous successive halving too.

"The top" of a rung: with one objective and no constraint, the highest scores (ties by the
trials' order in the bracket); with several objectives, or constraints, the first by
non-dominated sorting with crowding distance (Deb et al. 2002), infeasible trials after the
feasible ones, as MO-ASHA ranks a rung (Schmucker et al. 2021); see
:mod:`raytune_hpo.schedulers._pareto`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from raytune_hpo._contract import RungLearner
from raytune_hpo._objectives import Objectives
from raytune_hpo._options import Option, OptionTable
from raytune_hpo._ray.controller import ControllerHooks, stop_waiting_trial
from raytune_hpo.directory import read_results
from raytune_hpo.errors import ConfigError
from raytune_hpo.schedulers._common import TIME_ATTR, Objective, SchedulerRequest
from raytune_hpo.schedulers._pareto import Measure, order, pareto
from raytune_hpo.schedulers._rungs import Plan, bracket_index, sha_rungs, shrink


class Bracket:
    """One bracket of synchronous successive halving, as bookkeeping: which trial is heading
    for which rung, its measure on reaching a rung (a score, higher is better, or with
    ``objectives`` taking several objectives or constraints, a point:
    :mod:`~raytune_hpo.schedulers._pareto`), and which ended. ``plan`` gives, per rung, the
    trials it holds and its iterations; a bracket closed with fewer trials (m) than planned
    holds max(1, floor(m / eta^i)) at rung i.

    A rung is decided when every trial heading for it has reached it or ended, and no more
    trials can join the bracket: its best trials, as many as the next rung holds, go on; the
    others are stopped. The last rung ends the trials that reach it."""

    def __init__(self, plan: Plan, eta: float, objectives: Objectives | None = None):
        self.plan = [(int(n), int(r)) for n, r in plan]
        self.eta = eta
        self.objectives = objectives if pareto(objectives) else None  # None: scores
        self.trials: list[str] = []
        self.closed = False  # no trial will join any more (the search is finished)
        self.level = 0  # the lowest rung not decided yet
        self.rung: dict[str, int] = {}  # the rung each trial is heading for
        self.scores: dict[str, dict[int, Measure]] = {}  # its measure on reaching each rung
        self.ended: set[str] = set()

    @property
    def size(self) -> int:
        return self.plan[0][0]

    @property
    def last(self) -> int:
        return len(self.plan) - 1

    def full(self) -> bool:
        return len(self.trials) >= self.size

    def counts(self) -> list[int]:
        """How many trials each rung holds."""
        m = len(self.trials)
        if m >= self.size:
            return [n for n, _ in self.plan]
        return [max(1, shrink(m, self.eta, i)) for i in range(len(self.plan))]

    def iterations(self, trial_id: str) -> int:
        """The iterations at which the trial's next decision falls."""
        return self.plan[self.rung[trial_id]][1]

    def add(self, trial_id: str) -> None:
        self.trials.append(trial_id)
        self.rung[trial_id] = 0
        self.scores[trial_id] = {}

    def replay(self, trial_id: str, history: Sequence[tuple[int, Measure]]) -> None:
        """The (iteration, measure) reports of a trial before the experiment was interrupted:
        its measures at the rungs it reached, which the decisions replayed on resume use."""
        for iteration, score in history:
            for k, (_, r) in enumerate(self.plan):
                if iteration == r:
                    self.scores[trial_id].setdefault(k, score)

    def report(self, trial_id: str, iteration: int, score: Measure) -> str:
        """``"continue"`` before the trial's rung; on reaching it ``"wait"`` (for the rung to
        be decided) or, at the last rung, ``"done"``."""
        if trial_id in self.ended:
            return "done"
        k = self.rung[trial_id]
        if iteration < self.plan[k][1]:
            return "continue"
        self.scores[trial_id].setdefault(k, score)
        if k == self.last:
            self.ended.add(trial_id)
            return "done"
        return "wait"

    def end(self, trial_id: str) -> None:
        self.ended.add(trial_id)

    def waiting(self, trial_id: str) -> bool:
        """Whether the trial has reached its rung and waits for the decision."""
        return trial_id not in self.ended and self.rung[trial_id] in self.scores[trial_id]

    def decide(self) -> tuple[list[str], list[str]]:
        """Decide every rung that can be: the trials promoted, and those stopped."""
        promoted, stopped = [], []
        while self.level < self.last and (self.full() or self.closed):
            k = self.level
            heading = [t for t in self.trials if self.rung[t] == k and t not in self.ended]
            if any(k not in self.scores[t] for t in heading):
                break
            # Trials that reached the rung and ended since compete too (their places are lost):
            # the decision is the same as when the experiment is resumed, where the trials
            # that ended come back with the scores in their history.
            reached = [t for t in self.trials if self.rung[t] == k and k in self.scores[t]]
            best = order([self.scores[t][k] for t in reached], self.objectives)
            keep = {reached[i] for i in best[: self.counts()[k + 1]]}
            for t in keep:
                self.rung[t] = k + 1
            for t in heading:
                if t in keep:
                    promoted.append(t)
                else:
                    self.ended.add(t)
                    stopped.append(t)
            self.level = k + 1
        return promoted, stopped


class SynchronousHalving(ControllerHooks, Objective, FIFOScheduler):
    """Runs brackets of synchronous successive halving: ``make_plans(trials)`` gives the
    brackets of one round (called once, with the experiment's number of trials where the
    search algorithm says it); trials join them in that order, trial k of the experiment
    into the bracket where the k-th place falls, round after round.

    Brackets run interleaved: the scheduler starts the trials of the first bracket that has
    work first, and when a rung waits for trials still running, a free slot goes to the next
    bracket's trials. Each bracket's decisions depend on its own trials only, so they are those
    of running the brackets one after the other; only the wall time differs.

    A trial waits at a rung paused (its resources freed, its last checkpoint saved) and is
    resumed from that checkpoint when promoted; a trainable that saves no checkpoint starts
    again from its first iteration."""

    _supports_buffered_results = False
    retires_trials = False  # a resumed bracket replays every trial it held

    def __init__(
        self,
        make_plans: Callable[[int | None], list[Plan]],
        eta: float,
        name: str,
        learner: bool = False,
        objectives: Objectives | None = None,
    ):
        super().__init__()
        # Several objectives or constraints: trials compared by points, each trial's largest
        # violation so far followed; None: by the score of Ray's metric.
        self._objectives = objectives if pareto(objectives) else None
        self._violation: dict[str, float] = {}
        self._learner = learner  # its searcher is a RungLearner (raytune_hpo._contract)
        self._make_plans = make_plans
        self._plans: list[Plan] | None = None
        self._eta = eta
        self._name = name
        self._brackets: list[Bracket] = []
        self._bracket_of: dict[str, Bracket] = {}
        self._trials: dict[str, Trial] = {}
        self._to_resume: set[str] = set()
        self._places: dict[str, int] = {}

    # -- which bracket a trial joins ---------------------------------------------------------

    def plans(self, trials: int | None = None) -> list[Plan]:
        """The brackets of one round, for an experiment of ``trials`` trials."""
        return self._make_plans(trials)

    def _bracket_for(self, place: int, plans: list[Plan]) -> Bracket:
        """The bracket of the trial in ``place`` (0, 1, ...), created with those before it."""
        index = bracket_index(place, plans)
        while len(self._brackets) <= index:
            self._brackets.append(Bracket(plans[len(self._brackets) % len(plans)], self._eta, self._objectives))
        return self._brackets[index]

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)
        if self._plans is None:
            total = getattr(getattr(tune_controller, "search_alg", None), "total_samples", None)
            self._plans = self._make_plans(total if isinstance(total, int) and total > 0 else None)
        place = _trial_number(trial)
        if place is None or place in self._places.values():
            place = max(self._places.values(), default=-1) + 1
        self._places[trial.trial_id] = place
        bracket = self._bracket_for(place, self._plans)
        bracket.add(trial.trial_id)
        self._bracket_of[trial.trial_id] = bracket
        self._trials[trial.trial_id] = trial
        if (getattr(trial, "last_result", None) or {}).get(TIME_ATTR):  # resumed: it has a past
            bracket.replay(trial.trial_id, self._history(trial))
        if trial.status in (Trial.TERMINATED, Trial.ERROR):  # ended before the resume
            bracket.end(trial.trial_id)

    def _history(self, trial: Trial) -> list[tuple[int, Measure]]:
        """(iteration, measure) of every report in the trial's ``result.json``."""
        assert trial.storage is not None  # a trial the controller added has its storage
        self._violation.pop(trial.trial_id, None)
        return [
            (row[TIME_ATTR], self._measure(trial.trial_id, row))
            for row in read_results(trial.storage.trial_fs_path)
            if TIME_ATTR in row
        ]

    def _measure(self, trial_id: str, report: dict) -> Measure:
        """The trial's measure at this report: the score of Ray's metric, or its point (the
        report's objectives, and the largest violation of the trial's reports so far)."""
        if self._objectives is None:
            return self.score(report.get(self._metric))
        violation = self._objectives.largest_violation(self._violation, trial_id, report)
        return self._objectives.values(report), violation

    # -- decisions ---------------------------------------------------------------------------

    def _close_if_search_finished(self, tune_controller) -> None:
        search = getattr(tune_controller, "search_alg", None)
        if search is not None and search.is_finished():
            for bracket in self._brackets:
                bracket.closed = True

    def _searcher(self, tune_controller) -> RungLearner | None:
        """The searcher, where it learns from rung results and counts paused trials apart."""
        return tune_controller.search_alg.searcher if self._learner else None

    def _decide(self, tune_controller, bracket: Bracket, current: str | None = None) -> str | None:
        """Decide what can be; act on every trial but ``current``, and return its decision
        (None where it was neither promoted nor stopped)."""
        promoted, stopped = bracket.decide()
        searcher = self._searcher(tune_controller)
        for trial_id in stopped:
            self._to_resume.discard(trial_id)
            trial = self._trials[trial_id]
            # PENDING: a trial that waited at the rung when the experiment was interrupted.
            if trial_id != current and (trial.status in (Trial.PAUSED, Trial.PENDING) or trial.is_saving):
                stop_waiting_trial(tune_controller, trial)
        for trial_id in promoted:
            if trial_id != current:
                self._to_resume.add(trial_id)
                if searcher is not None:
                    searcher.on_unpause(trial_id)
        if current in stopped:
            return TrialScheduler.STOP
        if current in promoted:
            return TrialScheduler.CONTINUE
        return None

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        trial_id = trial.trial_id
        bracket = self._bracket_of[trial_id]
        self._to_resume.discard(trial_id)
        self._close_if_search_finished(tune_controller)
        searcher = self._searcher(tune_controller)
        if searcher is not None:
            result.setdefault("hyperband_info", {})
        rung_iterations = bracket.iterations(trial_id) if trial_id not in bracket.ended else None
        outcome = bracket.report(trial_id, result[TIME_ATTR], self._measure(trial_id, result))
        if outcome == "continue":
            return TrialScheduler.CONTINUE
        if searcher is not None and rung_iterations is not None:
            result["hyperband_info"]["budget"] = rung_iterations
        if outcome == "done":  # at max_t
            return self._stop_and_tell(tune_controller, trial, result, searcher)
        decision = self._decide(tune_controller, bracket, current=trial_id)
        if decision == TrialScheduler.STOP:
            return self._stop_and_tell(tune_controller, trial, result, searcher)
        if decision == TrialScheduler.CONTINUE:
            return decision
        if searcher is not None:
            searcher.on_pause(trial_id)
        return TrialScheduler.PAUSE

    def _stop_and_tell(self, tune_controller, trial: Trial, result: dict, searcher) -> str:
        # Ray gives a stopped trial's last result to the searcher only through
        # on_trial_complete, which BOHB does not learn from: give it the rung result here.
        if searcher is not None and "budget" in result.get("hyperband_info", {}):
            searcher.on_trial_result(trial.trial_id, result)
        return TrialScheduler.STOP

    def _ended(self, tune_controller, trial: Trial) -> None:
        bracket = self._bracket_of.get(trial.trial_id)
        if bracket is None:
            return
        self._to_resume.discard(trial.trial_id)
        if trial.trial_id not in bracket.ended:
            bracket.end(trial.trial_id)
            self._decide(tune_controller, bracket)

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self._ended(tune_controller, trial)
        super().on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        self._ended(tune_controller, trial)
        super().on_trial_error(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._ended(tune_controller, trial)
        super().on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        """The first bracket's work first: its promoted trials, then its trials not started."""
        self.prepare(tune_controller)
        self._close_if_search_finished(tune_controller)
        for bracket in self._brackets:
            self._decide(tune_controller, bracket)
        for bracket in self._brackets:
            for trial_id in bracket.trials:
                if trial_id in self._to_resume and self._trials[trial_id].status == Trial.PAUSED:
                    return self._trials[trial_id]
            for trial_id in bracket.trials:
                if self._trials[trial_id].status == Trial.PENDING:
                    return self._trials[trial_id]
        return None

    def debug_string(self) -> str:
        lines = [f"Using {self._name}: {len(self._brackets)} brackets"]
        for i, b in enumerate(self._brackets):
            lines.append(
                f"  bracket {i}: rungs {[r for _, r in b.plan]}, deciding rung {b.level}, "
                f"{len(b.trials)} trials, {len(b.ended)} ended"
            )
        return "\n".join(lines)


def _trial_number(trial: Trial) -> int | None:
    """The trial's place in the experiment (0, 1, ...), from the number Ray puts first in its
    tag: the same on resume, when Ray adds the trials again in another order."""
    number = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(number) - 1 if number.isdigit() and int(number) > 0 else None


# -- options -----------------------------------------------------------------------------------

HALVING_OPTIONS = OptionTable(
    [
        Option("grace_period", int, default=1, low=1, help="the iterations of the first rung"),
        Option("reduction_factor", float, default=3, low=2, help="eta: 1/eta of a rung's trials go on"),
    ]
)


def check_halving(request: SchedulerRequest) -> int:
    """``max_t`` checked for a synchronous scheduler, and its pairing with ``max_concurrent``;
    ``max_t``."""
    name = request.name
    if request.max_t is None:
        raise ConfigError(f"max_t: scheduler {name!r} needs max_t, the iterations of its last rung")
    trials = request.trials
    if (
        request.max_concurrent is not None
        and not request.learner
        and (trials is None or request.max_concurrent < trials)
    ):
        # The searcher counts paused trials as running: it would propose no more trials
        # while a rung waits for them (a RungLearner counts them apart).
        raise ConfigError(
            f"max_concurrent: scheduler {name!r} pauses trials at each rung until all have "
            "reached it, and paused trials count against max_concurrent; leave it out and "
            "limit the trials at once with resources"
        )
    return request.max_t


def build_sha(request: SchedulerRequest):
    options = request.checked_options(HALVING_OPTIONS)
    eta = options["reduction_factor"]
    max_t = check_halving(request)
    grace = options["grace_period"]
    if grace > max_t:
        raise ConfigError(f"scheduler_options.grace_period: must be an integer from 1 to max_t={max_t}, got {grace!r}")

    def plans(trials: int | None) -> list[Plan]:
        return [sha_rungs(trials or request.trials or 1, grace, eta, max_t)]

    return SynchronousHalving(plans, eta, "synchronous successive halving", request.learner, request.objectives)
