"""Ray Tune's ``Tuner`` assembled from a checked :class:`Plan`: the trainable with its resources, the
searcher and scheduler, the stoppers, the checkpoints kept, and the callbacks that run beside
the trials (the journal, TensorBoard, MLflow, the progress line, the free-space watch)."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raytune_hpo._objectives import Objectives
from raytune_hpo._ray.session import ray_verbosity
from raytune_hpo._run_options import RunOptions
from raytune_hpo._warm_start import WarmStart
from raytune_hpo.directory import Journal, JournalContents, jsonable
from raytune_hpo.schedulers import SchedulerInfo
from raytune_hpo.searchers import SearcherInfo
from raytune_hpo.space import Space
from raytune_hpo.trainable import as_trainable

if TYPE_CHECKING:
    from ray.tune import Tuner


@dataclass
class Plan:
    """An experiment checked and ready: what :func:`execute` runs, what a dry run shows. Its
    options are readable as attributes (``plan.max_t``), besides ``plan.searcher`` and
    ``plan.scheduler``, which are the registered searcher and scheduler."""

    trainable: Callable[[dict], Any]
    space: Space
    options: RunOptions  # resolved: no default left to decide
    searcher: SearcherInfo
    scheduler: SchedulerInfo
    search_alg: Any
    param_space: dict
    scheduler_alg: Any
    scheduler_settings: dict  # the scheduler's options as built, defaults included
    trials: int  # the trials the experiment runs when it completes
    warm: WarmStart | None = None  # what the earlier experiments of warm_start give

    def __getattr__(self, name: str) -> Any:
        if name == "options":  # not set yet (copy, pickle)
            raise AttributeError(name)
        return getattr(self.options, name)

    @property
    def path(self) -> str:
        return os.path.join(self.options.storage, self.options.name)


def experiment_meta(plan: Plan) -> dict[str, Any]:
    """What ``hpo.json`` records of the experiment: what ``resume``, ``Results`` and the
    report read back."""
    o = plan.options
    return {
        "name": o.name,
        **o.objectives.meta(),  # metric, mode, and constraints where there are some
        "searcher": plan.searcher.name,
        "scheduler": plan.scheduler.name,
        "num_samples": o.num_samples,
        "planned_trials": plan.trials,
        "max_t": o.max_t,
        "time_budget_s": o.time_budget_s,
        "iteration_budget": o.iteration_budget,
        "seed": o.seed,
        "resources": o.resources,
        "tracking": o.tracking,
        "space": plan.space.to_json(jsonable),
        "scheduler_settings": {
            k: v
            for k, v in plan.scheduler_settings.items()
            if k != "time_attr" and isinstance(v, (int, float, str, bool))
        },
        "max_pending_trials": plan.trials if plan.scheduler.proposes_upfront else None,
        "trainable": f"{plan.trainable.__module__}:{plan.trainable.__qualname__}",
        "trainable_dir": _import_root(plan.trainable),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def start_journal(path: str, kind: str, **fields: Any) -> Journal:
    """The experiment's journal, opened with this session's first event."""
    journal = Journal(path)
    journal.write("session", kind=kind, host=socket.gethostname(), pid=os.getpid(), **fields)
    return journal


def build_tuner(plan: Plan, callbacks: list, verbose: int) -> Tuner:
    from ray import tune

    o = plan.options
    return tune.Tuner(
        _ray_trainable(plan.trainable, o.seed, o.resources),
        param_space=plan.param_space,
        tune_config=tune.TuneConfig(
            # Ray Tune takes one metric: the first objective (the searchers and schedulers that
            # take several are given them all when built).
            metric=o.objectives.primary,
            mode=o.objectives.primary_mode,
            search_alg=plan.search_alg,
            scheduler=plan.scheduler_alg,
            num_samples=o.num_samples,
            time_budget_s=o.time_budget_s,
            reuse_actors=True,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=tune.RunConfig(
            name=o.name,
            storage_path=o.storage,
            stop=_stopper(plan),
            failure_config=tune.FailureConfig(max_failures=o.max_failures),
            checkpoint_config=tune.CheckpointConfig(
                # The best two by the objective and always the latest (Ray keeps it to resume);
                # all under PBT, which may hand any trial's past checkpoint to another later.
                num_to_keep=None if plan.scheduler.needs_checkpoints else 2,
                checkpoint_score_attribute=o.objectives.primary,
                checkpoint_score_order=o.objectives.primary_mode,
            ),
            verbose=ray_verbosity(verbose),
            callbacks=callbacks,
        ),
    )


def restore_tuner(path: str, trainable: Callable, meta: Mapping[str, Any], retry_errored: bool) -> Tuner:
    from ray import tune

    return tune.Tuner.restore(
        path,
        trainable=_ray_trainable(trainable, meta["seed"], meta["resources"]),
        resume_unfinished=True,
        resume_errored=retry_errored,
    )


def _ray_trainable(trainable: Callable, seed: int | None, resources: Mapping[str, float]) -> Any:
    """The user's function as Ray Tune runs it, in a run and on resume alike."""
    from ray import tune

    return tune.with_resources(as_trainable(trainable, seed), dict(resources))


def make_callbacks(
    path: str, meta: Mapping[str, Any], journal: Journal, verbose: int, before: JournalContents | None = None
) -> list:
    """What runs beside the trials, made anew for each run and resume of the experiment.
    LowSpace comes first: on a full disk, it frees the reserve before the others write."""
    from raytune_hpo._ray.controller import NoRayTrialLines
    from raytune_hpo._storage import LowSpace
    from raytune_hpo.progress import Progress
    from raytune_hpo.tracking import ExperimentLog, TensorBoardLog, tracking_callbacks

    objectives = Objectives.from_meta(meta)
    callbacks = [LowSpace(path), ExperimentLog(journal, objectives), TensorBoardLog(objectives)]
    callbacks += tracking_callbacks(path, meta)
    if verbose == 1:
        callbacks.append(Progress(objectives, meta["planned_trials"], meta.get("max_t"), before=before))
    if verbose < 2:
        callbacks.append(NoRayTrialLines())
    return callbacks


def _stopper(plan: Plan) -> Any:
    """Ends trials at ``max_t`` where the scheduler does not and at a non-finite metric
    (:mod:`._stop`), and the experiment at its iteration budget."""
    from raytune_hpo._stop import Guard

    o = plan.options
    guard = Guard(o.objectives, o.max_t if o.max_t and not plan.scheduler.stops_at_max_t else None)
    if o.iteration_budget is None:
        return guard
    from ray.tune.stopper import CombinedStopper

    from raytune_hpo._budget import IterationBudget

    # The budget first: it counts every report, and CombinedStopper stops asking at a yes.
    return CombinedStopper(IterationBudget(o.iteration_budget), guard)


def trial_name(trial: Any) -> str:
    """``trial_00007_<id>``: the trial's number within the experiment, then Ray's id."""
    number = trial.experiment_tag.split("_", 1)[0]
    return f"trial_{int(number) if number.isdigit() else 0:05d}_{trial.trial_id}"


def _import_root(function: Callable) -> str | None:
    """The directory from which the function's module imports: ``/src`` for
    ``experiments.digits`` in ``/src/experiments/digits.py``."""
    module = sys.modules.get(function.__module__)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    root = os.path.dirname(os.path.abspath(file))
    depth = function.__module__.count(".") + (os.path.basename(file) == "__init__.py")
    for _ in range(depth):
        root = os.path.dirname(root)
    return root
