"""Any experiment as an Optuna study in a journal file, for ``optuna-dashboard`` and
``optuna.visualization``, whatever searcher and scheduler ran it.

:func:`export_study` writes a finished (or running, or interrupted) experiment at once
(``raytune-hpo export DIR --optuna journal.log``); :class:`OptunaStudyLog` writes it trial by
trial as it runs (``tracking={"optuna": {"journal": "journal.log"}}``), so that the dashboard
follows the experiment live. Both write the same study::

    optuna-dashboard journal.log                        # then open http://127.0.0.1:8080

    study = optuna.load_study(study_name="digits-asha",
                              storage=JournalStorage(JournalFileBackend("journal.log")))
    optuna.visualization.plot_contour(study)

What the study holds:

- its name: the experiment's (``--study`` or ``study`` to change it); one direction per
  objective, named by its metric (``Study.metric_names``); the experiment's directory, searcher
  and scheduler as user attributes;
- each trial, in the order the experiment started them: its parameters with their
  distributions, from the experiment's search space (``hpo.json`` keeps it; an experiment
  recorded before it did gets distributions read from the values its trials took); a choice
  is categorical over its options (an option Optuna cannot hold, a list say, by its label;
  a branch's option by its constants, ``name=sgd``), a parameter of a branch only in the
  trials that chose that option; the configuration whole as the user attribute ``config``,
  and our trial id as ``raytune_hpo.trial_id``;
- with one objective, its value at every reported iteration as the intermediate value of that
  step, and as its value the best it reported (the value ``hpo.load`` ranks it by, so that
  ``study.best_trial`` is ``Results.best_trial``); with several, its last report's objectives
  (what stands for it on our Pareto front, so that ``study.best_trials`` is the front; Optuna
  keeps no intermediate values for several objectives); with constraints, each constraint's
  largest value over its reports in Optuna's convention (0 or less is feasible:
  ``FrozenTrial.constraints``), which Optuna's Pareto-front plot reads;
- its state: ``COMPLETE`` when it ended on its own or at ``max_t``, ``PRUNED`` when a scheduler
  or a stop rule ended it before (its last report says ``done``; that is ASHA's, Hyperband's,
  the median rule's way, a non-finite objective's and the iteration budget's), ``FAIL`` for an
  error or when the experiment was interrupted before it ended (Optuna's state for a trial
  whose process died), ``RUNNING`` while it runs; its start and end times (the timeline plot).

The journal file is Optuna's own format (``JournalFileBackend``, with Optuna's file lock), so
a dashboard may read it while the experiment writes it. :func:`export_study` replaces a study
of the same name in the file and leaves the others.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ray.tune import Callback

from raytune_hpo._library import quiet_optuna
from raytune_hpo._objectives import Objectives
from raytune_hpo._options import is_number
from raytune_hpo.directory import as_json, read_results
from raytune_hpo.errors import ConfigError
from raytune_hpo.space import Choice, Float, Grid, Integer, Space, display
from raytune_hpo.tracking._parameters import label, parameters

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.storages import JournalStorage
    from optuna.trial import FrozenTrial

    from raytune_hpo.results import Results

TRIAL_ATTR = "raytune_hpo.trial_id"
_OPTUNA_SCALARS = (type(None), bool, int, float, str)


def export_study(results: Results, journal: str, study: str | None = None) -> str:
    """Write ``results`` as the Optuna study ``study`` (default: the experiment's name) of the
    journal file ``journal``; return the file's path."""
    path = os.path.abspath(journal)
    with quiet_optuna("dashboard", "the Optuna study export") as optuna:
        storage = _storage(path, "--optuna")
        name = study or results.name
        with contextlib.suppress(KeyError):  # none of that name yet
            optuna.delete_study(study_name=name, storage=storage)
        created = _create_study(storage, name, results.path, results.meta)
        space = StudyParams(results.space or inferred_space(results))
        max_t = results.meta.get("max_t") or max((t.iterations for t in results.trials), default=None)
        for trial in results.trials:
            frozen = _frozen_trial(
                optuna,
                space,
                results.objectives,
                trial.trial_id,
                trial.config,
                trial.history,
                _STATES.get(trial.status, "FAIL"),
                max_t,
            )
            if trial.start_time is not None:
                frozen.datetime_start = datetime.datetime.fromtimestamp(trial.start_time)
            if trial.end_time is not None and frozen.state.is_finished():
                frozen.datetime_complete = datetime.datetime.fromtimestamp(trial.end_time)
            created.add_trial(frozen)
    return path


_STATES = {"TERMINATED": "COMPLETE", "ERROR": "FAIL", "RUNNING": "RUNNING", "INTERRUPTED": "FAIL"}
"""A trial's status in our journal, as an Optuna state (COMPLETE may become PRUNED: its reports say)."""


class OptunaStudyLog(Callback):
    """The Ray Tune callback behind ``tracking={"optuna": {"journal": ..., "study": ...}}``:
    each trial an Optuna trial of the study, created running when it starts, its intermediate
    values as it reports, its value(s) and state when it ends. A trial that starts again (a
    retry, a resume, a PBT exploit) goes on in the same Optuna trial, found by its
    ``raytune_hpo.trial_id`` attribute, unless that one had ended (Optuna never reopens a
    finished trial): a failed trial retried on resume is then a new Optuna trial."""

    def __init__(self, path: str, meta: Mapping[str, Any], journal: str, study: str | None = None):
        self.path, self.meta, self.journal = path, dict(meta), journal
        self.study_name = study or meta["name"]
        self.objectives = Objectives.from_meta(meta)
        self._storage: JournalStorage | None = None
        self._study_id: int | None = None
        self._space: StudyParams | None = None
        self._trials: dict[str, int] = {}  # our trial id -> Optuna's trial id, for this session
        self._reports: dict[str, list[dict]] = {}  # the running trials' reports

    def __getstate__(self) -> dict:  # pickled with the Tuner: the storage and the trials stay behind
        return {**self.__dict__, "_storage": None, "_study_id": None, "_space": None, "_trials": {}, "_reports": {}}

    def _connect(self) -> JournalStorage:
        if self._storage is None:
            with quiet_optuna("dashboard", "the Optuna study export"):
                self._storage = _storage(self.journal, "tracking.optuna.journal")
                try:
                    self._study_id = self._storage.get_study_id_from_name(self.study_name)
                except KeyError:
                    self._study_id = _create_study(self._storage, self.study_name, self.path, self.meta)._study_id
                for frozen in self._storage.get_all_trials(self._study_id, deepcopy=False):
                    ours = frozen.user_attrs.get(TRIAL_ATTR)
                    if ours is not None and not frozen.state.is_finished():
                        self._trials[ours] = frozen._trial_id
                spec = self.meta.get("space")
                self._space = StudyParams(Space.from_json(spec) if spec else None)
        return self._storage

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        storage = self._connect()
        if trial.trial_id not in self._reports:  # first seen by this process: earlier sessions' reports
            self._reports[trial.trial_id] = read_results(trial.storage.trial_fs_path)
        if trial.trial_id in self._trials:
            return
        import optuna

        assert self._space is not None and self._study_id is not None  # set by _connect
        running = _frozen_trial(optuna, self._space, self.objectives, trial.trial_id, trial.config, [], "RUNNING", None)
        self._trials[trial.trial_id] = storage.create_new_trial(self._study_id, template_trial=running)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        storage = self._connect()
        if trial.trial_id not in self._trials:  # Ray starts a trial before its first result; should it not
            self.on_trial_start(iteration, trials, trial)
        # A copy: Ray marks the last result of a trial that ended on its own ``done`` afterwards.
        self._reports[trial.trial_id].append(dict(result))
        step = _intermediate(self.objectives, result)
        if step is not None:
            storage.set_trial_intermediate_value(self._trials[trial.trial_id], *step)

    def _end(self, trial, status: str) -> None:
        optuna_id = self._trials.pop(trial.trial_id, None)
        reports = self._reports.pop(trial.trial_id, [])
        if optuna_id is None:  # ended before it started (stopped while pending)
            return
        storage = self._connect()
        import optuna

        state, values, constraints = outcome(self.objectives, reports, _STATES[status], self.meta.get("max_t"))
        for metric, value in constraints.items():
            storage.set_trial_system_attr(optuna_id, f"constraints:{metric}", value)
        storage.set_trial_state_values(optuna_id, getattr(optuna.trial.TrialState, state), values)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._end(trial, "TERMINATED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._end(trial, "ERROR")

    def on_step_end(self, iteration, trials, **info) -> None:
        # Trials ended with the experiment (its time or iteration budget spent) get no callback.
        for trial in [t for t in trials if t.trial_id in self._trials and t.is_finished()]:
            self._end(trial, trial.status if trial.status in _STATES else "TERMINATED")


# -- the parameters, the outcome: shared by the export and the live log -----------------------


class StudyParams:
    """A space's parameters as Optuna distributions, by dotted name, and a configuration as
    an Optuna trial's parameters. ``space`` None (an experiment recorded without one, followed
    live): no parameters but the configuration attribute."""

    def __init__(self, space: Space | None):
        self.space = space
        self.distributions: dict[str, BaseDistribution] = {}
        self._choices: dict[str, list] = {}
        if space is None:
            return
        from raytune_hpo.searchers._optuna import optuna_distribution

        for path, p in space.params.items():
            if isinstance(p, (Choice, Grid)):
                options = p.options if isinstance(p, Choice) else p.values
                self._choices[path] = _choice_labels(options, branch=path in space.branch_points)
                self.distributions[display(path)] = optuna_distribution(Choice(options), self._choices[path])
            elif isinstance(p, (Integer, Float)):
                self.distributions[display(path)] = optuna_distribution(p)
            # a Ray-sampled domain has no distribution: its values are in the configuration

    def of(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters ``config`` holds, as Optuna's values: those its branches leave (the
        values of a configuration the space does not map whole, an inferred space's with
        parameters missing say, one by one), each inside its distribution (one that is not is
        left to the configuration attribute)."""
        if self.space is None:
            return {}
        raw = self.space.values_of(config)
        if isinstance(raw, str):  # not wholly a configuration of this space: its parameters one by one
            raw = self.space.values_found(config)
        params = {}
        for path, value in raw.items():
            name = display(path)
            distribution = self.distributions.get(name)
            if distribution is None:
                continue
            if path in self._choices:  # a choice's option index, a grid's value: Optuna's choice
                p = self.space.params[path]
                value = self._choices[path][value if isinstance(p, Choice) else list(cast(Grid, p).values).index(value)]
            with contextlib.suppress(ValueError, TypeError):
                if distribution._contains(distribution.to_internal_repr(value)):
                    params[name] = value
        return params


def outcome(
    objectives: Objectives, reports: Sequence[Mapping[str, Any]], state: str, max_t: int | None
) -> tuple[str, list[float] | None, dict[str, float]]:
    """A trial's Optuna state, values and constraints from its reports and our ``state``
    (see the module's docstring)."""
    from raytune_hpo.searchers._constrained import constraint_values

    if state == "COMPLETE" and reports and reports[-1].get("done"):
        iterations = reports[-1].get("training_iteration")
        if not (max_t and isinstance(iterations, int) and iterations >= max_t):
            state = "PRUNED"
    constraints: dict[str, float] = {}
    if objectives.constraints and reports:
        peaks = [max(column) for column in zip(*(constraint_values(objectives.constraints, r) for r in reports))]
        constraints = {c.metric: value for c, value in zip(objectives.constraints, peaks)}
    values: list[float] | None = None
    if objectives.several:
        last = objectives.values(reports[-1]) if reports else None
        if last is not None:
            values = [v if mode == "min" else -v for v, mode in zip(last, objectives.modes)]
    else:
        scored = [float(r[objectives.primary]) for r in reports if is_number(r.get(objectives.primary))]
        if scored:
            values = [min(scored) if objectives.primary_mode == "min" else max(scored)]
    if state in ("FAIL", "RUNNING") or (values is None and state == "COMPLETE"):
        return ("FAIL" if state == "COMPLETE" else state), None, constraints
    return state, values, constraints


def _frozen_trial(
    optuna: Any,
    space: StudyParams,
    objectives: Objectives,
    trial_id: str,
    config: Mapping[str, Any],
    reports: Sequence[Mapping[str, Any]],
    state: str,
    max_t: int | None,
) -> FrozenTrial:
    state, values, constraints = outcome(objectives, reports, state, max_t)
    params = space.of(config)
    intermediate = dict(step for step in (_intermediate(objectives, r) for r in reports) if step is not None)
    frozen = optuna.trial.create_trial(
        state=getattr(optuna.trial.TrialState, state),
        values=values,
        params=params,
        distributions={name: space.distributions[name] for name in params},
        user_attrs={TRIAL_ATTR: trial_id, "config": as_json(config)},
        intermediate_values=intermediate,
        constraints=constraints or None,
    )
    return frozen


def _intermediate(objectives: Objectives, report: Mapping[str, Any]) -> tuple[int, float] | None:
    """A report as Optuna's intermediate value: (its iteration, its objective); None with
    several objectives (Optuna keeps none) or where the objective is not a finite number."""
    step, value = report.get("training_iteration"), report.get(objectives.primary)
    if objectives.several or not isinstance(step, int) or not is_number(value):
        return None
    return step, float(cast(float, value))


def _choice_labels(options: Sequence[Any], branch: bool) -> list:
    """Optuna's choices for a choice's options: each option where Optuna takes it (None, a
    bool, number or string), else its label; a branch's option by its constants
    (``name=sgd``). Labels that would repeat are numbered."""

    def one(i: int, option: Any) -> Any:
        if isinstance(option, _OPTUNA_SCALARS):
            return option
        if branch and isinstance(option, Mapping):
            constants = [f"{k}={v}" for k, v in option.items() if isinstance(v, _OPTUNA_SCALARS)]
            return ", ".join(constants) or f"option {i}"
        return label(option)

    labels = [one(i, option) for i, option in enumerate(options)]
    if len({repr(x) for x in labels}) < len(labels):
        labels = [f"{i}: {x}" for i, x in enumerate(labels)]
    return labels


def inferred_space(results: Results) -> Space | None:
    """A space read from the values an experiment's trials took (its ``hpo.json`` predates the
    recorded space): a number parameter spans the values seen (log-scaled where they span two
    decades, as :mod:`._parameters` reads them), a category is a choice of those seen; None
    where no parameter varies."""
    spec: dict[str, Any] = {}
    for p in parameters(results.dataframe()):
        present = [v for v in p.values if v is not None]
        if p.numeric and p.integer:
            param: Any = Integer(int(min(present)), int(max(present)) + 1, log=p.log)
        elif p.numeric:
            param = Float(float(min(present)), float(max(present)), log=p.log)
        else:
            firsts = {label(v): v for v in reversed(present)}
            param = Choice(tuple(firsts[c] for c in p.categories or ()))
        node = spec
        *groups, last = p.name.split(".")
        for group in groups:
            node = node.setdefault(group, {})
        node[last] = param
    return Space(spec) if spec else None


def _create_study(storage: JournalStorage, name: str, path: str, meta: Mapping[str, Any]):
    import optuna

    objectives = Objectives.from_meta(meta)
    directions: list[Any] = ["minimize" if mode == "min" else "maximize" for mode in objectives.modes]
    study = optuna.create_study(storage=storage, study_name=name, directions=directions)
    study.set_metric_names(list(objectives.metrics))
    for key in ("searcher", "scheduler"):
        study.set_user_attr(f"raytune_hpo.{key}", meta.get(key))
    study.set_user_attr("raytune_hpo.experiment", path)
    return study


def _storage(path: str, field: str) -> JournalStorage:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return JournalStorage(JournalFileBackend(path))
    except OSError as e:
        raise ConfigError(f"{field}: cannot write {path!r} ({e.strerror}); choose a writable path") from None
