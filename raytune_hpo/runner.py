"""``run()`` and ``resume()``: every argument checked, then Ray Tune's Tuner built and run.

Everything a user can get wrong is checked before Ray starts, and raises
:class:`~raytune_hpo.errors.ConfigError` with one line naming the field and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import logging
import math
import numbers
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from raytune_hpo import directory
from raytune_hpo._lock import experiment_lock
from raytune_hpo.directory import META_FILE, RESERVE_FILE, TRAINABLE_FILE, Journal, JournalContents
from raytune_hpo.errors import ConfigError, Interrupted
from raytune_hpo.manifest import end_session, start_session, write_manifest
from raytune_hpo.results import RAY_FIELDS, Results
from raytune_hpo.schedulers import SchedulerInfo, SchedulerRequest, get_scheduler
from raytune_hpo.searchers import SearcherInfo, SearcherRequest, get_searcher, planned_trials
from raytune_hpo.space import Space
from raytune_hpo.trainable import as_trainable

RESOURCE_NAMES = ("cpu", "gpu", "memory")
_RAY_RESOURCE = {"cpu": "CPU", "gpu": "GPU", "memory": "memory"}
# An experiment keeps room on its storage to save its state: RESERVE_BYTES held in RESERVE_FILE
# while it runs, and as much again free. It does not start with less than both, and is
# interrupted, resumable, when its trials leave less (raytune_hpo._stop).
RESERVE_BYTES = 16 * 2**20


def run(
    trainable: Callable[[dict], Any],
    space: Mapping[str, Any],
    *,
    metric: str,
    mode: str = "min",
    searcher: str = "random",
    scheduler: str | None = None,
    num_samples: int | None = None,
    max_t: int | None = None,
    resources: Mapping[str, float] | None = None,
    storage: str = "runs",
    name: str | None = None,
    seed: int | None = None,
    max_concurrent: int | None = None,
    max_failures: int = 0,
    time_budget_s: float | None = None,
    iteration_budget: int | None = None,
    searcher_options: Mapping[str, Any] | None = None,
    scheduler_options: Mapping[str, Any] | None = None,
    tracking: Mapping[str, Any] | None = None,
    verbose: int = 1,
) -> Results:
    """Run an experiment: ``num_samples`` trials of ``trainable`` over ``space``.

    Args:
        trainable: ``train(config)``, reporting with :func:`raytune_hpo.report` (or returning a
            dict once).
        space: the search space (see :mod:`raytune_hpo.space`).
        metric, mode: the objective, ``"min"`` or ``"max"``.
        searcher: a name of :data:`raytune_hpo.SEARCHERS`.
        scheduler: a name of :data:`raytune_hpo.SCHEDULERS`; by default ``fifo``, or ``bohb``
            under the ``bohb`` searcher.
        num_samples: trials to run (default 10); for searcher ``grid``, repeats of the grid
            (default 1).
        max_t: the most iterations (reports) of a trial; also the schedulers' horizon.
        resources: per trial, ``{"cpu": 1, "gpu": 0.25, "memory": bytes}`` (default one CPU).
        storage, name: the experiment is written to ``storage/name``, which must not hold
            one already (use :func:`resume` to finish it).
        seed: seeds the searcher and, per trial, Python, NumPy and torch.
        max_concurrent: the most trials at once (default: as many as resources allow).
        max_failures: retries of a failing trial, from its last checkpoint.
        time_budget_s: stop the experiment after this many seconds.
        iteration_budget: stop the experiment once its trials have run this many iterations
            (reports) in all, counted from the start of this run (a resume counts afresh).
        searcher_options, scheduler_options: passed to the searcher and scheduler, checked by
            name (e.g. ``{"n_initial_points": 10}``, ``{"grace_period": 1,
            "reduction_factor": 3}``).
        tracking: where else every trial is logged, e.g. ``{"mlflow": {"tracking_uri":
            "sqlite:///mlflow.db", "experiment": "digits"}}`` (extra ``mlflow``).
        verbose: 0 silent, 1 a compact progress line, 2 Ray Tune's status table, 3 Ray
            Tune's details.

    Returns:
        The experiment's :class:`~raytune_hpo.results.Results`.

    Example::

        res = hpo.run(train, {"lr": hpo.loguniform(1e-4, 1e-1)}, metric="loss", mode="min",
                      searcher="tpe", scheduler="asha", num_samples=20, max_t=10)
        print(res.best_config)
    """
    options = {k: v for k, v in locals().items() if k not in ("trainable", "space", "verbose")}
    return execute(plan(trainable, space, **options), verbose=verbose)


@dataclass
class Plan:
    """An experiment checked and ready: what :func:`execute` runs, what a dry run shows."""

    trainable: Callable[[dict], Any]
    space: Space
    metric: str
    mode: str
    searcher: SearcherInfo
    scheduler: SchedulerInfo
    search_alg: Any
    param_space: dict
    scheduler_alg: Any
    num_samples: int
    max_t: int | None
    resources: dict
    seed: int | None
    max_concurrent: int | None
    max_failures: int
    time_budget_s: float | None
    iteration_budget: int | None
    storage: str
    name: str
    tracking: dict
    scheduler_settings: dict  # the scheduler's options as built, defaults included

    @property
    def path(self) -> str:
        return os.path.join(self.storage, self.name)


def plan(trainable: Callable[[dict], Any], space: Mapping[str, Any], *, dry_run: bool = False, **options: Any) -> Plan:
    """Check every argument of :func:`run` and build the searcher and scheduler, without
    starting Ray; ``dry_run`` also leaves the file system alone. ``options`` are :func:`run`'s
    keyword arguments, with its defaults."""
    arguments = inspect.signature(run).bind(trainable, space, **options)
    arguments.apply_defaults()
    return _plan(dry_run=dry_run, **{k: v for k, v in arguments.arguments.items() if k != "verbose"})


def _plan(
    trainable, space, metric, mode, searcher, scheduler, num_samples, max_t, resources, storage,
    name, seed, max_concurrent, max_failures, time_budget_s, iteration_budget, searcher_options,
    scheduler_options, tracking, dry_run,
) -> Plan:
    searcher_options = _mapping("searcher_options", searcher_options)
    scheduler_options = dict(_mapping("scheduler_options", scheduler_options))
    max_t = _merge_max_t(max_t, scheduler_options.pop("max_t", None))
    if scheduler is None:  # a searcher made for some schedulers runs with the first of them
        paired = get_searcher(searcher).schedulers
        scheduler = paired[0] if paired else "fifo"

    _check_trainable(trainable)
    _check_text("metric", metric)
    if mode not in ("min", "max"):
        raise ConfigError(f"mode: must be 'min' or 'max', got {mode!r}")
    for field, value in (("num_samples", num_samples), ("max_t", max_t), ("max_concurrent", max_concurrent),
                         ("iteration_budget", iteration_budget)):
        _check_positive_int(field, value)
    _check_positive_int("max_failures", max_failures, allow_zero=True)
    if time_budget_s is not None and not (_is_number(time_budget_s) and time_budget_s > 0):
        raise ConfigError(f"time_budget_s: must be a positive number of seconds, got {time_budget_s!r}")
    if seed is not None and not _is_int(seed):
        raise ConfigError(f"seed: must be an integer, got {seed!r}")
    resources = _check_resources(resources)
    tracking = _check_tracking(tracking)
    searcher_info, scheduler_info = get_searcher(searcher), get_scheduler(scheduler)
    _check_pairing(searcher_info, scheduler_info, trainable)
    space = Space(space)

    with _refused_options("searcher", searcher, searcher_options):
        search_alg, param_space = searcher_info.build(
            SearcherRequest(searcher, space, metric, mode, seed, max_concurrent, searcher_options)
        )
    if num_samples is None:
        num_samples = 1 if searcher == "grid" else 10
    scheduler_request = SchedulerRequest(scheduler, space, searcher, max_t, scheduler_options,
                                         num_samples, max_concurrent, time_budget_s)
    with _refused_options("scheduler", scheduler, scheduler_options):
        scheduler_alg = scheduler_info.build(scheduler_request)
    if hasattr(search_alg, "follow_brackets"):  # dehb proposes each trial for its bracket
        search_alg.follow_brackets(scheduler_alg.plans())

    name = name if name is not None else f"{getattr(trainable, '__name__', 'trainable')}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(
            f"name: {name!r} must be letters, digits, '.', '_' or '-' (it names a directory)"
        )
    storage = _check_storage(storage, create=not dry_run)
    _refuse_existing(os.path.join(storage, name))

    return Plan(
        trainable, space, metric, mode, searcher_info, scheduler_info, search_alg, param_space,
        scheduler_alg, num_samples, max_t, resources, seed, max_concurrent, max_failures,
        time_budget_s, iteration_budget, storage, name, tracking, scheduler_request.settings,
    )


def _refuse_existing(path: str) -> None:
    if os.path.exists(os.path.join(path, META_FILE)) or os.path.exists(os.path.join(path, TRAINABLE_FILE)):
        raise ConfigError(
            f"name: experiment {path!r} exists already; finish it with hpo.resume({path!r}) "
            "or choose another name"
        )


def execute(plan: Plan, verbose: int = 1, experiment: Mapping[str, Any] | None = None) -> Results:
    """Run a checked experiment to its end, holding its directory (:mod:`raytune_hpo._lock`).
    ``experiment`` is the resolved experiment file, kept beside the results
    (``experiment.yaml``) and in the manifest when the experiment came from one."""
    _ensure_ray()
    _check_cluster_fits(plan.resources)
    with experiment_lock(plan.path):
        _refuse_existing(plan.path)  # made by another process since plan() checked
        return _start(plan, verbose, experiment)


def _start(plan: Plan, verbose: int, experiment: Mapping[str, Any] | None) -> Results:
    from ray import tune

    p = plan
    if experiment is not None:
        directory.write_experiment_file(p.path, experiment)
    directory.save_trainable(p.path, p.trainable)
    planned = planned_trials(p.searcher.name, p.space, p.num_samples)
    meta = {
        "name": p.name,
        "metric": p.metric,
        "mode": p.mode,
        "searcher": p.searcher.name,
        "scheduler": p.scheduler.name,
        "num_samples": p.num_samples,
        "planned_trials": planned,
        "max_t": p.max_t,
        "time_budget_s": p.time_budget_s,
        "iteration_budget": p.iteration_budget,
        "seed": p.seed,
        "resources": p.resources,
        "tracking": p.tracking,
        "scheduler_settings": {k: v for k, v in p.scheduler_settings.items()
                               if k != "time_attr" and isinstance(v, (int, float, str, bool))},
        "max_pending_trials": planned if p.scheduler.proposes_upfront else None,
        "trainable": f"{p.trainable.__module__}:{p.trainable.__qualname__}",
        "trainable_dir": _import_root(p.trainable),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    directory.write_meta(p.path, meta)
    journal = Journal(p.path)
    journal.write("session", kind="run", host=socket.gethostname(), pid=os.getpid())
    write_manifest(p.path, seed=p.seed, experiment=experiment)
    callbacks = _callbacks(p.path, meta, journal, verbose)
    tuner = tune.Tuner(
        tune.with_resources(as_trainable(p.trainable, p.seed), p.resources),
        param_space=p.param_space,
        tune_config=tune.TuneConfig(
            metric=p.metric,
            mode=p.mode,
            search_alg=p.search_alg,
            scheduler=p.scheduler_alg,
            num_samples=p.num_samples,
            time_budget_s=p.time_budget_s,
            reuse_actors=True,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=tune.RunConfig(
            name=p.name,
            storage_path=p.storage,
            stop=_stopper(p),
            failure_config=tune.FailureConfig(max_failures=p.max_failures),
            checkpoint_config=tune.CheckpointConfig(
                # The best two by the objective and always the latest (Ray keeps it to resume);
                # all under PBT, which may hand any trial's past checkpoint to another later.
                num_to_keep=None if p.scheduler.needs_checkpoints else 2,
                checkpoint_score_attribute=p.metric,
                checkpoint_score_order=p.mode,
            ),
            verbose=_ray_verbosity(verbose),
            callbacks=callbacks,
        ),
    )
    return _fit(tuner, p.path, meta, verbose, journal, callbacks)


def _callbacks(path: str, meta: Mapping[str, Any], journal: Journal, verbose: int,
               before: JournalContents | None = None) -> list:
    """What runs beside the trials, made anew for each run and resume of the experiment.

    Ray's own loggers are off (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS, in _fit): its JSON log lost
    reports when trials restarted (see ExperimentLog), its TensorBoard logger wrote
    hyperparameters only when a trial ended (see TensorBoardLog). LowSpace comes first: on a
    full disk, it frees the reserve before the others write."""
    from raytune_hpo._stop import LowSpace
    from raytune_hpo.progress import NoRayTrialLines, Progress
    from raytune_hpo.tracking import ExperimentLog, MLflowLog, TensorBoardLog

    metric, mode = meta["metric"], meta["mode"]
    callbacks = [LowSpace(path), ExperimentLog(journal, metric, mode), TensorBoardLog(metric)]
    if "mlflow" in (meta.get("tracking") or {}):
        callbacks.append(MLflowLog(meta["name"], **meta["tracking"]["mlflow"]))
    if verbose == 1:
        callbacks.append(Progress(metric, mode, meta["planned_trials"], meta.get("max_t"), before=before))
    if verbose < 2:
        callbacks.append(NoRayTrialLines())
    return callbacks


def _stopper(plan: Plan):
    """Ends trials at ``max_t`` where the scheduler does not and at a non-finite metric
    (:mod:`._stop`), and the experiment at its iteration budget."""
    from raytune_hpo._stop import Guard

    max_t = plan.max_t if plan.max_t and not plan.scheduler.stops_at_max_t else None
    guard = Guard(plan.metric, max_t)
    if plan.iteration_budget is None:
        return guard
    from ray.tune.stopper import CombinedStopper

    from raytune_hpo._budget import IterationBudget

    # The budget first: it counts every report, and CombinedStopper stops asking at a yes.
    return CombinedStopper(IterationBudget(plan.iteration_budget), guard)


def _check_tracking(tracking: Any) -> dict:
    from raytune_hpo.tracking import check_mlflow_options

    if tracking is None:
        return {}
    if not isinstance(tracking, Mapping):
        raise ConfigError(f"tracking: must be a mapping like {{'mlflow': {{...}}}}, got {tracking!r}")
    for key in tracking:
        if key != "mlflow":
            raise ConfigError(f"tracking.{key}: unknown; the trackers are mlflow (TensorBoard is always on)")
    return {"mlflow": check_mlflow_options(tracking["mlflow"])} if "mlflow" in tracking else {}


def resume(path: str, *, retry_errored: bool = False, verbose: int = 1) -> Results:
    """Finish an interrupted experiment: trials that had finished stay as they are, unfinished
    ones continue from their last checkpoint (or start again), and the searcher goes on from
    its saved state. ``retry_errored`` also reruns the trials that had failed. Refused while
    another process runs or resumes the same experiment (:mod:`raytune_hpo._lock`)."""
    path = os.path.abspath(path)
    meta = directory.read_meta(path)  # an experiment directory, before the lock writes into it
    with experiment_lock(path):
        return _resume(path, meta, retry_errored, verbose)


def _resume(path: str, meta: dict, retry_errored: bool, verbose: int) -> Results:
    if directory.ray_state_file(path) is None:
        raise ConfigError(
            f"{path!r}: no trial was recorded before the experiment stopped; there is nothing to "
            "resume: remove the directory and start it again with hpo.run()"
        )
    # Damage is told in one line, before Ray reads anything.
    before, in_snapshot = directory.read_journal(path), directory.read_ray_trials(path)
    trainable = directory.load_trainable(path, meta)
    _check_free_space(path, "free space, then resume it")
    _ensure_ray()
    _check_cluster_fits(meta["resources"])

    from ray import tune

    from raytune_hpo._controller import set_callbacks
    from raytune_hpo._stop import remove_damaged_error_pickles

    remove_damaged_error_pickles(path)
    try:
        tuner = tune.Tuner.restore(
            path,
            trainable=tune.with_resources(as_trainable(trainable, meta["seed"]), meta["resources"]),
            resume_unfinished=True,
            resume_errored=retry_errored,
        )
    except Exception as e:  # tuner.pkl missing or cut short, or a state Ray cannot read
        reason = (str(e).strip().splitlines() or [""])[0]
        raise ConfigError(
            f"{path!r}: Ray Tune cannot restore the experiment ({type(e).__name__}: {reason}); "
            "the experiment record is damaged"
        ) from None
    journal = Journal(path)
    journal.write("session", kind="resume", host=socket.gethostname(), pid=os.getpid(), retry_errored=retry_errored)
    _reconcile(path, meta, before, in_snapshot, journal)
    start_session(path)
    callbacks = _callbacks(path, meta, journal, verbose, before=before)
    set_callbacks(tuner, callbacks)
    return _fit(tuner, path, meta, verbose, journal, callbacks)


def _reconcile(path: str, meta: Mapping[str, Any], before: JournalContents, in_snapshot: Mapping[str, str],
               journal: Journal) -> None:
    """The journal brought level with Ray's snapshot before Ray resumes from it. A trial
    running when the driver died that the snapshot does not hold (it started after the
    snapshot) is dropped: the searcher, as saved, proposes another in its place. A trial that
    the snapshot holds as ended but the journal does not (ended with the experiment, just
    before the driver died) gets its end from its ``result.json``. The other way round (ended
    in the journal, not in the snapshot) is for :mod:`raytune_hpo._controller`, once Ray runs."""
    for trial_id, record in before.trials.items():
        if record.status != "RUNNING":
            continue
        status = in_snapshot.get(trial_id)
        if status is None:
            journal.write("drop", trial=trial_id)
        elif status in ("TERMINATED", "ERROR"):
            summary = directory.EndSummary(meta["metric"], meta["mode"])
            for report in directory.read_results(os.path.join(path, record.name)):
                summary.add(report)
            journal.write("end", trial=trial_id, status=status, **summary.fields(), failures=record.failures)


def trial_name(trial) -> str:
    """``trial_00007_<id>``: the trial's number within the experiment, then Ray's id."""
    number = trial.experiment_tag.split("_", 1)[0]
    return f"trial_{int(number) if number.isdigit() else 0:05d}_{trial.trial_id}"


def _fit(tuner, path: str, meta: dict, verbose: int, journal: Journal, callbacks: list) -> Results:
    """``tuner.fit()``, its end recorded in the journal, then the Results: a run stopped by a
    signal raises :class:`~raytune_hpo.errors.Interrupted`, one stopped by a full disk a
    :class:`ConfigError`, both saying how to finish it."""
    from ray.tune.error import TuneError

    from raytune_hpo._controller import fit
    from raytune_hpo._stop import TRIPPED, hold_reserve, release_reserve
    from raytune_hpo.tracking import ExperimentLog
    from raytune_hpo.tracking._report import write_report_or_warn

    # Ray snapshots the experiment every num_to_keep checkpoints of a trial (our 2), so that its
    # snapshot never names a checkpoint deleted since, and warns that this may be too often:
    # by design, and cheap (finished trials are retired from the snapshot, _controller).
    settings = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_DISABLE_SIGINT_HANDLER": "1",
                "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0"}
    if meta.get("max_pending_trials"):
        settings["TUNE_MAX_PENDING_TRIALS_PG"] = str(meta["max_pending_trials"])
    console = logging.getLogger("ray.tune.tune")
    quiet = _QuietRay()
    if verbose < 2:  # Ray's newer console output prints banners even when told to be silent
        settings["RAY_AIR_NEW_OUTPUT"] = "0"
        # A failed trial's traceback is kept in its directory, and the summary tells it in one line.
        settings["TUNE_PRINT_ALL_TRIAL_ERRORS"] = "0"
    console.addFilter(quiet)
    # Ray's ResultGrid (unused: Results reads the experiment) warns about every trial that
    # never started, as when an iteration budget ends the experiment.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    log = next(c for c in callbacks if isinstance(c, ExperimentLog))
    hold_reserve(path)
    signals = _StopSignals()
    stop: dict[str, Any] = {"reason": "finished"}
    try:
        with _environment(**settings), signals:
            fit(tuner)
    except TuneError as e:
        stop = {"reason": "failed", "error": str(e).splitlines()[0] if str(e) else "TuneError"}
        _raise_if_metric_missing(e, path, meta["metric"])
        raise
    except KeyboardInterrupt:  # a second Ctrl-C (or SIGTERM): stopped at once, the journal whole
        stop = {"reason": "interrupted", "signal": signals.received}
    except OSError as e:  # the disk filled up faster than LowSpace could stop the experiment
        stop = {"reason": "failed", "error": e.strerror}
        if e.errno not in _STORAGE_FAULTS:
            raise
        raise ConfigError(
            f"storage: {e.strerror} in {path!r}; the experiment stopped; free space (or make it writable), "
            f"then resume it, rerunning the trials that failed: hpo.resume({path!r}, retry_errored=True) "
            f"(raytune-hpo resume {path} --retry-errored)"
        ) from None
    finally:
        if stop["reason"] == "finished" and (path in TRIPPED or _stopped_early(path, meta, log)):
            stop = ({"reason": "out of space"} if path in TRIPPED else
                    {"reason": "interrupted", "signal": signals.received or "SIGUSR1"})
        journal.write("stop", **stop)
        journal.close()
        console.removeFilter(quiet)
        release_reserve(path)
        end_session(path)
    results = Results(path)
    _raise_if_out_of_space(results)
    if stop["reason"] == "interrupted":
        raise Interrupted(results.interruption(), results)
    write_report_or_warn(results)  # DIR/report.html; a failure is a one-line warning
    return results


def _stopped_early(path: str, meta: Mapping[str, Any], log) -> bool:
    """Whether Ray's loop ended on a stop signal rather than at the experiment's end: trials
    started and not ended, or, without a time or iteration budget, fewer trials ended than
    planned. (Ray's own snapshot cannot tell: it keeps the status a waiting trial had before
    a budget ended it.)"""
    if log.unfinished:
        return True
    if meta.get("time_budget_s") or meta.get("iteration_budget"):
        return False
    ended = sum(r.status in ("TERMINATED", "ERROR") for r in directory.read_journal(path).trials.values())
    return ended < meta["planned_trials"]


_STORAGE_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class _StopSignals:
    """While the experiment runs: Ctrl-C (SIGINT), SIGTERM and a closed terminal (SIGHUP) stop
    it as SLURM's time-limit warning does, through Ray Tune's own "save and stop" signal,
    SIGUSR1: the state saved, unfinished trials left to ``resume``. A second one stops it at
    once (a ``KeyboardInterrupt``; the journal is whole, and the snapshot the last one taken).
    Every handler is put back as it was afterwards, Ray's SIGUSR1 handler too. Outside the
    main thread, where Python cannot handle signals, nothing is installed."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in (*_STOP_SIGNALS, "SIGUSR1"):
            number = getattr(signal, name)
            self._saved[number] = signal.getsignal(number)
        for name in _STOP_SIGNALS:
            signal.signal(getattr(signal, name), self._handle)
        return self

    def _handle(self, number: int, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(number).name
        ray_handler = signal.getsignal(signal.SIGUSR1)  # installed by Ray Tune once it runs
        if callable(ray_handler) and ray_handler is not self._saved.get(signal.SIGUSR1):
            ray_handler(signal.SIGUSR1, frame)
        else:  # Ray Tune is not running trials yet (or any more): nothing to save
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        for number, handler in self._saved.items():
            signal.signal(number, handler)


class _QuietRay(logging.Filter):
    """Drops Ray Tune's console lines that ours say better: the trials that failed (the
    summary tells each in one line), its stop-signal warning ("e.g. via Ctrl+C") and its
    "resume with Tuner.restore" (``Interrupted`` names ``raytune-hpo resume``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            ("Trials did not complete", "Stop signal received", "Experiment has been interrupted"))


def _raise_if_out_of_space(results: Results) -> None:
    """LowSpace interrupted the experiment, its state saved: one line saying so, and how to
    finish it, instead of results as if it had ended."""
    from raytune_hpo._stop import TRIPPED

    free = TRIPPED.pop(results.path, None)
    if free is None:
        return
    path = results.path
    again = (f"hpo.resume({path!r}) (raytune-hpo resume {path})" if not results.num_errors else
             f"hpo.resume({path!r}, retry_errored=True) (raytune-hpo resume {path} --retry-errored), "
             f"which also reruns its {results.num_errors} failed trials")
    raise ConfigError(
        f"storage: only {free / 2**20:.1f} MiB left on the filesystem of {path!r}; the experiment "
        f"stopped with its state saved; free space, then resume it: {again}"
    )


def _raise_if_metric_missing(error: Exception, path: str, metric: str) -> None:
    """Ray stops the experiment at the first report without the metric, with a traceback
    around a ValueError that quotes the report: that, as one line naming what was reported."""
    cause = error.__context__
    if not isinstance(cause, ValueError) or "did not include the specified metric" not in str(cause):
        return
    reported = [k for k in re.findall(r"'([^']+)': ", str(cause).partition("Result: ")[2])
                if k not in RAY_FIELDS and not k.startswith("config/")]
    raise ConfigError(
        f"metric: a trial reported {', '.join(reported) or 'nothing'} but not {metric!r}; every "
        f"hpo.report() must include {metric}=..., or set metric to a name reported; the experiment "
        f"stopped, run it again under another name (or after removing {path!r})"
    ) from None


def _check_cluster_fits(resources: Mapping[str, float]) -> None:
    """Refuse a trial that no node of the running Ray cluster can hold: Ray would wait forever."""
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    wanted = {key: value for key, value in resources.items() if value}
    for key, value in wanted.items():
        most = max((node.get(_RAY_RESOURCE[key], 0) for node in nodes), default=0)
        if value > most:
            raise ConfigError(
                f"resources.{key}: a trial asks for {value:g} {key} but the largest node of the Ray cluster "
                f"has {most:g}; lower resources.{key} or run on nodes with more"
            )
    if not any(all(node.get(_RAY_RESOURCE[k], 0) >= v for k, v in wanted.items()) for node in nodes):
        raise ConfigError(
            f"resources: no single node of the Ray cluster has {resources} at once, as a trial needs; "
            "lower some of them"
        )


def _ray_verbosity(verbose: int) -> int:
    """Ours: 0 silent, 1 the compact progress line, 2 Ray's status table, 3 Ray's details."""
    return {0: 0, 1: 0, 2: 1}.get(verbose, 3)


def _ensure_ray() -> None:
    import ray

    if not ray.is_initialized():
        init_ray()


def init_ray(**kwargs: Any) -> None:
    """Start a local Ray whose workers import what this process imports: the directories on
    this process's ``sys.path`` outside the Python installation go to the workers'
    ``PYTHONPATH``, so a trainable from the user's own modules is found there."""
    import ray

    install = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths = []
    for entry in sys.path:
        entry = os.path.realpath(entry or os.getcwd())
        if os.path.isdir(entry) and not any(entry.startswith(p + os.sep) or entry == p for p in install):
            paths.append(entry)
    inherited = os.environ.get("PYTHONPATH")
    pythonpath = os.pathsep.join(dict.fromkeys(paths + ([inherited] if inherited else [])))
    runtime_env = dict(kwargs.pop("runtime_env", None) or {})
    runtime_env["env_vars"] = {"PYTHONPATH": pythonpath, **runtime_env.get("env_vars", {})}
    kwargs = {"include_dashboard": False, "configure_logging": True, "logging_level": "WARNING", **kwargs}
    if threading.current_thread() is threading.main_thread():
        ray.init(runtime_env=runtime_env, **kwargs)
        return
    # Linux ends a process's children when the *thread* that started them ends (Ray starts its
    # local processes with PR_SET_PDEATHSIG): started from a notebook's or a service's worker
    # thread, Ray would die with it, and the interpreter then wait 60 s at exit for Ray's GCS.
    # They are started by a thread that lives as long as the interpreter instead.
    started, failed = threading.Event(), []

    def start_and_stay() -> None:
        try:
            ray.init(runtime_env=runtime_env, **kwargs)
        except BaseException as e:  # handed to the calling thread
            failed.append(e)
        started.set()
        threading.Event().wait()

    threading.Thread(target=start_and_stay, name="raytune-hpo-ray", daemon=True).start()
    started.wait()
    if failed:
        raise failed[0]


@contextlib.contextmanager
def _environment(**variables: str):
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update({k: v for k, v in variables.items() if saved[k] is None})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def _check_pairing(searcher: SearcherInfo, scheduler: SchedulerInfo, trainable: Callable) -> None:
    def either(names) -> str:
        return " or ".join(repr(n) for n in names)

    if searcher.schedulers is not None and scheduler.name not in searcher.schedulers:
        raise ConfigError(
            f"scheduler: searcher {searcher.name!r} cannot run with scheduler {scheduler.name!r}; "
            f"it needs scheduler {either(searcher.schedulers)}"
        )
    if scheduler.searchers is not None and searcher.name not in scheduler.searchers:
        raise ConfigError(
            f"searcher: scheduler {scheduler.name!r} cannot run with searcher {searcher.name!r}; "
            f"it needs searcher {either(scheduler.searchers)}"
        )
    if scheduler.needs_checkpoints and not _uses_checkpoints(trainable):
        raise ConfigError(
            f"scheduler: {scheduler.name!r} hands a trial's weights to another through "
            f"checkpoints, but {trainable.__name__}() never calls hpo.load_checkpoint(); "
            "save with hpo.report(..., checkpoint={...}) and start from hpo.load_checkpoint()"
        )


def _uses_checkpoints(function: Callable, depth: int = 3) -> bool:
    """Whether the function calls ``load_checkpoint``, in its own source or in that of a
    function it calls (followed ``depth`` deep: a training loop shared by several trainables);
    true where no source can be read: then the user is trusted."""
    try:
        if "load_checkpoint" in inspect.getsource(function):
            return True
    except (OSError, TypeError):
        return True
    if depth == 0:
        return False
    code, names = getattr(function, "__code__", None), getattr(function, "__globals__", {})
    called = [names.get(name) for name in (code.co_names if code else ())]
    return any(
        _uses_checkpoints(f, depth - 1) for f in called if inspect.isfunction(f) and f is not function
    )


def _check_trainable(trainable: Any) -> None:
    if inspect.isclass(trainable) or not callable(trainable):
        raise ConfigError(
            f"trainable: must be a function train(config), got {type(trainable).__name__}"
        )
    try:
        inspect.signature(trainable).bind({})
    except TypeError:
        raise ConfigError(
            f"trainable: {getattr(trainable, '__name__', trainable)!r} must take one argument, "
            "the config dict: def train(config)"
        ) from None
    except ValueError:  # no signature to inspect (a builtin): let it through
        pass


@contextlib.contextmanager
def _refused_options(kind: str, name: str, options: Mapping[str, Any]):
    """A library's own check of an option's value (Ray's schedulers assert) as one line naming
    the option; with no option given, the error is ours and goes through as it is."""
    try:
        yield
    except (AssertionError, ValueError, TypeError) as e:
        if isinstance(e, ConfigError) or not options:
            raise
        field = f"{kind}_options" + (f".{next(iter(options))}" if len(options) == 1 else "")
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"{field}: {kind} {name!r} refused {dict(options)} ({reason}); give a value it accepts"
        ) from None


def _check_text(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field}: must be a non-empty string, got {value!r}")


def _check_positive_int(field: str, value: Any, allow_zero: bool = False) -> None:
    if value is None:
        return
    if not _is_int(value) or value < (0 if allow_zero else 1):
        what = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{field}: must be {what} integer, got {value!r}")


def _check_resources(resources: Mapping[str, float] | None) -> dict:
    resources = dict(_mapping("resources", resources) or {"cpu": 1})
    for key, value in resources.items():
        if key not in RESOURCE_NAMES:
            raise ConfigError(
                f"resources.{key}: unknown resource; use {', '.join(RESOURCE_NAMES)}"
            )
        if not _is_number(value) or value < 0:
            raise ConfigError(f"resources.{key}: must be a number >= 0, got {value!r}")
    if not any(resources.get(k, 0) > 0 for k in ("cpu", "gpu")):
        raise ConfigError("resources: a trial needs some cpu or gpu, e.g. {'cpu': 1}")
    return resources


def _check_storage(storage: Any, create: bool = True) -> str:
    if not isinstance(storage, (str, os.PathLike)) or not str(storage):
        raise ConfigError(f"storage: must be a directory path, got {storage!r}")
    storage = os.path.abspath(os.fspath(storage))
    if not create:
        return storage
    try:
        os.makedirs(storage, exist_ok=True)
        with open(os.path.join(storage, ".hpo-write-test"), "w"):
            pass
        os.remove(os.path.join(storage, ".hpo-write-test"))
    except OSError as e:
        raise ConfigError(
            f"storage: cannot write to {storage!r} ({e.strerror}); choose a writable directory"
        ) from None
    _check_free_space(storage, "free space or choose another directory")
    return storage


def _check_free_space(path: str, fix: str) -> None:
    """Refuse to start with less free space than an experiment keeps to save its state."""
    free = free_bytes(path)
    if free is not None and free < 2 * RESERVE_BYTES:
        raise ConfigError(
            f"storage: only {free / 2**20:.1f} MiB free on the filesystem of {path!r}, under the "
            f"{2 * RESERVE_BYTES // 2**20} MiB an experiment keeps to save its state; {fix}"
        )


def free_bytes(path: str) -> int | None:
    """The space left to this user on the filesystem of ``path``, the reserve an experiment
    holds there included; None where it cannot be read."""
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return None
    try:
        return free + os.path.getsize(os.path.join(path, RESERVE_FILE))
    except OSError:  # no reserve held there
        return free


def _merge_max_t(given: Any, in_options: Any) -> Any:
    if in_options is not None and given is not None and in_options != given:
        raise ConfigError(
            f"max_t: given twice, {given!r} and scheduler_options.max_t={in_options!r}; keep one"
        )
    return given if given is not None else in_options


def _mapping(field: str, value: Any) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{field}: must be a dict, got {type(value).__name__}")
    return value


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


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
