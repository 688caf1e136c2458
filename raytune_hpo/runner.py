"""``run()`` and ``resume()``, and the steps between: every option checked into a :class:`Plan`
(:func:`plan`), the plan run to its end (:func:`execute`).

The data path: ``run(trainable, space, **options)`` → :class:`~raytune_hpo._run_options.RunOptions`
(each option checked) → :func:`plan` (the searcher and scheduler built, the storage checked) →
:func:`execute` (the directory written, :mod:`raytune_hpo._tuner` assembles Ray Tune's Tuner,
:mod:`raytune_hpo._ray` runs it, the journal records every trial) → :class:`~raytune_hpo.results.Results`,
read back from the directory. A failure on the way is one line (:mod:`raytune_hpo._failures`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from raytune_hpo import directory
from raytune_hpo._lock import experiment_lock
from raytune_hpo._objectives import Objectives
from raytune_hpo._ray.session import check_cluster_fits, ensure_ray, tune_settings
from raytune_hpo._run_options import (
    RunOptions,
    check_conditional,
    check_objectives,
    check_pairing,
    check_trainable,
    check_warm_start,
)
from raytune_hpo._tuner import Plan, build_tuner, experiment_meta, make_callbacks, restore_tuner, start_journal
from raytune_hpo.directory import META_FILE, TRAINABLE_FILE, Journal, JournalContents
from raytune_hpo.errors import ConfigError, Interrupted
from raytune_hpo.manifest import end_session, start_session, write_manifest
from raytune_hpo.results import Results
from raytune_hpo.schedulers import SchedulerRequest, get_scheduler
from raytune_hpo.searchers import SearcherRequest, get_searcher, planned_trials
from raytune_hpo.space import Space


def run(trainable: Callable[[dict], Any], space: Mapping[str, Any], *, verbose: int = 1, **options: Any) -> Results:
    """Run an experiment: ``num_samples`` trials of ``trainable`` over ``space``.

    ``trainable`` is ``train(config)``, reporting with :func:`raytune_hpo.report` (or returning
    a dict once); ``space`` the search space (:mod:`raytune_hpo.space`); ``verbose`` 0 silent, 1
    a compact progress line, 2 Ray Tune's status table, 3 Ray Tune's details. The other
    keyword arguments are the fields of :class:`~raytune_hpo._run_options.RunOptions`, listed
    below. The experiment is written to ``storage/name``, which must not hold one already
    (:func:`resume` finishes it).

    Example::

        res = hpo.run(train, {"lr": hpo.loguniform(1e-4, 1e-1)}, metric="loss", mode="min",
                      searcher="tpe", scheduler="asha", num_samples=20, max_t=10)
        print(res.best_config)
    """
    return execute(plan(trainable, space, **options), verbose=verbose)


def _signature_and_options() -> None:
    """``run``'s signature and the list of its options in its docstring, from RunOptions."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    fields = dataclasses.fields(RunOptions)
    parameters = (
        [*list(inspect.signature(run).parameters.values())[:2]]
        + [
            inspect.Parameter(
                f.name,
                keyword,
                annotation=f.type,
                default=inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default,
            )
            for f in fields
        ]
        + [inspect.Parameter("verbose", keyword, default=1, annotation="int")]
    )
    run.__signature__ = inspect.signature(run).replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__doc__ = (
        (run.__doc__ or "") + "\n    Options:\n" + "".join(f"        {f.name}: {f.metadata['help']}.\n" for f in fields)
    )


_signature_and_options()


def plan(trainable: Callable[[dict], Any], space: Mapping[str, Any], *, dry_run: bool = False, **options: Any) -> Plan:
    """Check every argument of :func:`run` and build the searcher and scheduler, without
    starting Ray; ``dry_run`` also leaves the file system alone. ``options`` are :func:`run`'s
    keyword arguments."""
    check_trainable(trainable)
    o = RunOptions.checked(options, trainable)
    searcher, scheduler = get_searcher(o.searcher), get_scheduler(o.scheduler)
    check_pairing(searcher, scheduler, trainable)
    check_objectives(o.objectives, searcher, scheduler)
    hpo_space = Space(space)
    check_conditional(hpo_space, searcher, scheduler)
    check_warm_start(o, searcher)
    with _refused_options("searcher", o.searcher, o.searcher_options):
        search_alg, param_space = searcher.build(
            SearcherRequest(
                o.searcher,
                hpo_space,
                o.objectives.primary,
                o.objectives.primary_mode,
                o.seed,
                o.max_concurrent,
                o.searcher_options,
                objectives=o.objectives,
            )
        )
    warm = None
    if o.warm_start:
        from raytune_hpo._warm_start import read_warm_start

        warm = read_warm_start(o.warm_start, hpo_space, o.objectives, o.warm_start_defaults)
        getattr(search_alg, "searcher", search_alg).warm_start(warm.trials, o.objectives)  # inside a limiter
    if o.objectives.constraints and searcher.learns and not searcher.native_constraints:
        from raytune_hpo.searchers._constrained import ConstrainedSearcher

        search_alg = ConstrainedSearcher(search_alg, o.objectives)  # infeasible trials seen as the worst
    trials = planned_trials(o.searcher, hpo_space, o.num_samples)
    request = SchedulerRequest(
        o.scheduler,
        hpo_space,
        o.max_t,
        o.scheduler_options,
        trials,
        o.max_concurrent,
        o.time_budget_s,
        learner=searcher.learns_from_rungs,
        objectives=o.objectives,
    )
    with _refused_options("scheduler", o.scheduler, o.scheduler_options):
        scheduler_alg = scheduler.build(request)
    if searcher.follows_brackets:  # a BracketFollower (raytune_hpo._contract)
        search_alg.follow_brackets(scheduler_alg.plans())
    if not dry_run:
        from raytune_hpo._storage import check_writable

        check_writable(o.storage)
    _refuse_existing(os.path.join(o.storage, o.name))
    return Plan(
        trainable,
        hpo_space,
        o,
        searcher,
        scheduler,
        search_alg,
        param_space,
        scheduler_alg,
        request.settings,
        trials,
        warm,
    )


def execute(plan: Plan, verbose: int = 1, experiment: Mapping[str, Any] | None = None) -> Results:
    """Run a checked experiment to its end, holding its directory (:mod:`raytune_hpo._lock`).
    ``experiment`` is the resolved experiment file, kept beside the results
    (``experiment.yaml``) and in the manifest when the experiment came from one."""
    ensure_ray(forward_output=verbose > 0)
    check_cluster_fits(plan.options.resources)
    with experiment_lock(plan.path):
        _refuse_existing(plan.path)  # made by another process since plan() checked
        path = plan.path
        if experiment is not None:
            directory.write_experiment_file(path, experiment)
        directory.save_trainable(path, plan.trainable)
        meta = experiment_meta(plan)
        directory.write_meta(path, meta)
        journal = start_journal(path, "run")
        write_manifest(
            path,
            seed=plan.options.seed,
            objectives=plan.options.objectives.meta(),
            experiment=experiment,
            warm_start=plan.warm.meta() if plan.warm else None,
        )
        if plan.warm and verbose > 0:
            print(plan.warm.describe())
        callbacks = make_callbacks(path, meta, journal, verbose)
        return _fit(build_tuner(plan, callbacks, verbose), path, meta, verbose, journal, callbacks)


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
    from raytune_hpo._failures import restore_failed
    from raytune_hpo._ray.controller import set_callbacks
    from raytune_hpo._storage import check_free_space, remove_damaged_error_pickles

    if directory.ray_state_file(path) is None:
        raise ConfigError(
            f"{path!r}: no trial was recorded before the experiment stopped; there is nothing to "
            "resume: remove the directory and start it again with hpo.run()"
        )
    # Damage is told in one line, before Ray reads anything.
    before, in_snapshot = directory.read_journal(path), directory.read_ray_trials(path)
    trainable = directory.load_trainable(path, meta)
    check_free_space(path, "free space, then resume it")
    ensure_ray(forward_output=verbose > 0)
    check_cluster_fits(meta["resources"])
    remove_damaged_error_pickles(path)
    try:
        tuner = restore_tuner(path, trainable, meta, retry_errored)
    except Exception as e:  # tuner.pkl missing or cut short, or a state Ray cannot read
        raise restore_failed(e, path) from None
    journal = start_journal(path, "resume", retry_errored=retry_errored)
    _reconcile(path, meta, before, in_snapshot, journal)
    start_session(path)
    callbacks = make_callbacks(path, meta, journal, verbose, before=before)
    set_callbacks(tuner, callbacks)
    return _fit(tuner, path, meta, verbose, journal, callbacks)


def _reconcile(
    path: str, meta: Mapping[str, Any], before: JournalContents, in_snapshot: Mapping[str, str], journal: Journal
) -> None:
    """The journal brought level with Ray's snapshot before Ray resumes from it. A trial
    running when the driver died that the snapshot does not hold (it started after the
    snapshot) is dropped: the searcher, as saved, proposes another in its place. A trial that
    the snapshot holds as ended but the journal does not (ended with the experiment, just
    before the driver died) gets its end from its ``result.json``. The other way round (ended
    in the journal, not in the snapshot) is for :mod:`raytune_hpo._ray.controller`, once Ray runs."""
    for trial_id, record in before.trials.items():
        if record.status != "RUNNING":
            continue
        status = in_snapshot.get(trial_id)
        if status is None:
            journal.write("drop", trial=trial_id)
        elif status in ("TERMINATED", "ERROR"):
            summary = directory.EndSummary(Objectives.from_meta(meta))
            for report in directory.read_results(os.path.join(path, record.name)):
                summary.add(report)
            journal.write("end", trial=trial_id, status=status, **summary.fields(), failures=record.failures)


def _fit(tuner: Any, path: str, meta: dict, verbose: int, journal: Journal, callbacks: list) -> Results:
    """``tuner.fit()``, its end recorded in the journal, then the Results: a run stopped by a
    signal raises :class:`~raytune_hpo.errors.Interrupted`, one stopped by a full disk
    :class:`~raytune_hpo.errors.StorageFull`, both saying how to finish it."""
    from ray.tune.error import TuneError

    from raytune_hpo._failures import metric_missing, out_of_space, storage_fault
    from raytune_hpo._ray.controller import fit
    from raytune_hpo._stop import StopSignals
    from raytune_hpo._storage import LowSpace, hold_reserve, release_reserve
    from raytune_hpo.tracking import ExperimentLog
    from raytune_hpo.tracking._report import write_report_or_warn

    log = next(c for c in callbacks if isinstance(c, ExperimentLog))
    low_space = next(c for c in callbacks if isinstance(c, LowSpace))
    hold_reserve(path)
    signals = StopSignals()
    stop: dict[str, Any] = {"reason": "finished"}
    try:
        with tune_settings(verbose, meta.get("max_pending_trials")), signals:
            fit(tuner)
    except TuneError as e:
        stop = {"reason": "failed", "error": str(e).splitlines()[0] if str(e) else "TuneError"}
        missing = metric_missing(e, path, Objectives.from_meta(meta))
        if missing is not None:
            raise missing from None
        raise
    except KeyboardInterrupt:  # a second Ctrl-C (or SIGTERM): stopped at once, the journal whole
        stop = {"reason": "interrupted", "signal": signals.received}
    except OSError as e:  # the disk filled up faster than LowSpace could stop the experiment
        stop = {"reason": "failed", "error": e.strerror}
        full = storage_fault(e, path)
        if full is None:
            raise
        raise full from None
    finally:
        if stop["reason"] == "finished" and (low_space.tripped is not None or _stopped_early(path, meta, log)):
            stop = (
                {"reason": "out of space"}
                if low_space.tripped is not None
                else {"reason": "interrupted", "signal": signals.received or "SIGUSR1"}
            )
        journal.write("stop", **stop)
        journal.close()
        release_reserve(path)
        end_session(path)
    results = Results(path)
    if low_space.tripped is not None:
        raise out_of_space(path, low_space.tripped, results.num_errors)
    if stop["reason"] == "interrupted":
        raise Interrupted(results.interruption() or "interrupted", results)
    write_report_or_warn(results)  # DIR/report.html; a failure is a one-line warning
    return results


def _stopped_early(path: str, meta: Mapping[str, Any], log: Any) -> bool:
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


def _refuse_existing(path: str) -> None:
    if os.path.exists(os.path.join(path, META_FILE)) or os.path.exists(os.path.join(path, TRAINABLE_FILE)):
        raise ConfigError(
            f"name: experiment {path!r} exists already; finish it with hpo.resume({path!r}) or choose another name"
        )


@contextlib.contextmanager
def _refused_options(kind: str, name: str, options: Mapping[str, Any] | None) -> Iterator[None]:
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
