"""``asha``: asynchronous successive halving (Li et al. 2020): at each rung (grace_period ×
reduction_factor^k iterations) a trial goes on only if it is in the top 1/reduction_factor of
the trials that reached that rung so far; no trial ever waits for others.

With one objective and no constraint it is Ray Tune's ``ASHAScheduler``. With several
objectives, or constraints, it is MO-ASHA (Schmucker et al. 2021, arXiv:2106.12639;
:class:`ParetoASHA`): the same rungs, ranked by non-dominated sorting with crowding distance
(Deb et al. 2002), infeasible trials after feasible ones; a trial goes on iff its place among
the n trials recorded at the rung, itself included, is among the first ⌈n/η⌉
(:mod:`raytune_hpo.schedulers._pareto`).
"""

from __future__ import annotations

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from raytune_hpo._objectives import Objectives
from raytune_hpo._options import Option, OptionTable
from raytune_hpo._ray.controller import ControllerHooks, controller_of
from raytune_hpo.errors import ConfigError
from raytune_hpo.schedulers._common import TIME_ATTR, Objective, SchedulerRequest
from raytune_hpo.schedulers._pareto import ParetoRungs, pareto
from raytune_hpo.schedulers._rungs import asha_rungs


class ASHA(ControllerHooks, ASHAScheduler):
    pass


class ParetoASHA(ControllerHooks, Objective, FIFOScheduler):
    """MO-ASHA (see the module's docstring) on :class:`~raytune_hpo.schedulers._pareto.ParetoRungs`.

    Ray Tune's ``metric`` stays the first objective, as its ``TuneConfig`` gives it. Ray keeps
    no scheduler's state in its snapshot (the scheduler is pickled once, before the experiment
    starts): on resume the rungs are rebuilt from the experiment's journal and its trials'
    reports, at the first call of the controller."""

    _supports_buffered_results = False  # every report counts: the rungs see each one

    def __init__(self, objectives: Objectives, max_t: int, grace_period: int, reduction_factor: float):
        super().__init__()
        self._max_t = max_t
        self._rungs = ParetoRungs(asha_rungs(grace_period, reduction_factor, max_t), reduction_factor, objectives)
        self._replayed = False
        self._num_stopped = 0

    def _replay_once(self, tune_controller) -> None:
        if not self._replayed:
            self._replayed = True
            self._rungs.replay(controller_of(tune_controller).experiment_path)

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        self._replay_once(tune_controller)
        super().on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        self._replay_once(tune_controller)
        if TIME_ATTR not in result:
            return TrialScheduler.CONTINUE
        if result[TIME_ATTR] < self._max_t and self._rungs.report(trial.trial_id, result[TIME_ATTR], result):
            return TrialScheduler.CONTINUE
        self._num_stopped += 1
        return TrialScheduler.STOP

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        # A last report the scheduler did not judge (a stopper ended the trial) still counts
        # at the rung it reached, as in Ray's ASHA.
        self._replay_once(tune_controller)
        if TIME_ATTR in result:
            self._rungs.record(trial.trial_id, result[TIME_ATTR], result)
        self._rungs.forget(trial.trial_id)
        super().on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        self._rungs.forget(trial.trial_id)
        super().on_trial_error(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._rungs.forget(trial.trial_id)
        super().on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return f"Using MO-ASHA: num_stopped={self._num_stopped}; rungs at {self._rungs.describe()}"


def _one_bracket(field: str, value):
    if value != 1 or isinstance(value, bool):
        raise ConfigError(
            f"{field}: asha runs one bracket with several objectives or constraints; must be 1, got {value!r}"
        )
    return value


PARETO_OPTIONS = OptionTable(
    [
        Option("grace_period", int, default=1, low=1, help="the iterations of the first rung"),
        Option("reduction_factor", float, default=3, above=1, help="eta: the top 1/eta of a rung go on"),
        Option("brackets", int, default=1, check=_one_bracket, help="1: one bracket"),
    ]
)
RAY_MAX_T = 100  # Ray's ASHAScheduler's max_t when run() is given none: the same for MO-ASHA


def build_asha(request: SchedulerRequest):
    if not pareto(request.objectives):
        return ASHA(
            **request.library_options(ASHAScheduler.__init__, defaults={"grace_period": 1, "reduction_factor": 3})
        )
    assert request.objectives is not None  # pareto() says so
    options = request.checked_options(PARETO_OPTIONS)
    max_t = request.max_t if request.max_t is not None else RAY_MAX_T
    grace = options["grace_period"]
    if grace > max_t:
        raise ConfigError(f"scheduler_options.grace_period: must be an integer from 1 to max_t={max_t}, got {grace!r}")
    return ParetoASHA(request.objectives, max_t, grace, options["reduction_factor"])
