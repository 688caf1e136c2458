"""What raytune-hpo asks of Ray Tune's ``TuneController`` beyond its public API, in one place.

The controller calls its scheduler with itself at every turn; :class:`ControllerHooks`, mixed
in first into every scheduler of ours, is how we reach it. Through it:

- **Finished trials are retired**: once a trial has ended (its journal ``end`` event written,
  :mod:`raytune_hpo.directory`) and the controller is done with it, it leaves the controller's
  lists. Ray keeps every trial it ever ran, serialises them all into every snapshot of the
  experiment and walks them at every step, so that its memory and its time per trial grow with
  the experiment (ray-project/ray#64231). Retired, the controller holds the trials that run or
  wait, and a snapshot costs the same at trial 10,000 as at trial 10 (while no other trial is
  left, the last one ended stays: Ray restores no snapshot without a trial). Schedulers that need
  every trial of a bracket on resume (``sha``, ``hyperband``, ``bohb``, ``dehb``,
  ``hyperband_async``) keep theirs (``retires_trials = False``).
- **Snapshots are copied into the experiment directory whole**: Ray writes its snapshot in a
  staging folder and copies it over the experiment's files in place, so that a driver killed
  mid-copy left a state file cut short and the experiment unresumable. :class:`WholeFileSyncer`
  writes each file under a temporary name and renames it into place.
- **Resume reconciles Ray's snapshot with the journal**: Ray's snapshot is taken every 10 s or
  more (its default, at most 5% of the time), the journal at every event. A trial the snapshot
  left unfinished that the journal has ended is not run again: it is completed from its
  ``result.json`` (its last report its last result), and the searcher and the scheduler are
  told, as if it had ended in this session. A trial that the random or grid searcher proposes
  again (the same one: the searcher's state is that of the snapshot) and that the journal has
  ended is completed the same way before it starts. No more trials are created than the
  experiment plans, counting those of the journal.

- **Every free slot gets a trial at once**: Ray Tune lets a searcher other than its random and
  grid ones have one trial waiting to start at a time (max_concurrent with a
  ``ConcurrencyLimiter``), so slots freed together (at the start, when a synchronous rung
  promotes) were filled one trial start after another, and with trials short next to a start
  one trial ran at a time: ``dehb``'s promotions and next bracket ran one after the other
  where the ``dehb`` package runs them side by side. At every step the limit is raised to the
  slots free for a trial on the cluster (counted every ``SLOTS_EVERY_S``), never lowered below
  Ray's; with every slot taken, one trial waits, as before. A ``TUNE_MAX_PENDING_TRIALS_PG``
  set by the user, or by a scheduler that creates every trial upfront, is left as it is.

- **The trainable's class is looked up once per run**, not five times per trial
  (:class:`_RegistryOnce`).
- **A placement group cancelled while Ray creates it is removed once created**
  (:class:`CreatedPlacementGroupsRemoved`): removed during its creation, it could leave CPUs taken
  for good.
- **Ray's per-trial printer, which kept every trial, is replaced** (:class:`NoRayTrialLines`).

Ray 2.60's private names used here: ``ray.tune.registry._global_registry``,
``ray.tune.execution.tune_controller.PlacementGroupResourceManager`` and that class's
``._request_to_staged_pgs``, ``._pg_to_staging_future``, ``._staging_future_to_pg``,
``._pg_to_request``,
``TuneController._checkpoint_manager``,
``._trials``, ``._live_trials``, ``._stopped_trials``, ``._trial_metadata``,
``._trials_to_cache``, ``._trial_to_actor``, ``._queued_trial_decisions``,
``._cached_trial_decisions``, ``._resetting_trials``, ``._staged_trials``,
``._set_trial_status``, ``._mark_trial_to_checkpoint``, ``._max_pending_trials``, ``._running_trials``;
``_ExperimentCheckpointManager._storage``;
``_CheckpointManager._checkpoint_results`` and ``._latest_checkpoint_result``;
``ray.train._internal.storage._FilesystemSyncer`` and ``_upload_to_fs_path``;
``ray.tune.progress_reporter.TrialProgressCallback`` (and, in :mod:`.session`,
``ray.train._internal.session.get_session``).
``tests/test_controller.py`` checks each behaviour against the installed Ray.
"""

from __future__ import annotations

import copy
import fnmatch
import os
import time
from typing import Any

import pyarrow.fs
import ray
from ray.air.execution import PlacementGroupResourceManager
from ray.train._internal.storage import _FilesystemSyncer, _upload_to_fs_path
from ray.tune.experiment import Trial
from ray.tune.progress_reporter import TrialProgressCallback
from ray.tune.utils import flatten_dict
from ray.util import remove_placement_group

from raytune_hpo._ray.session import trials_at_once
from raytune_hpo.directory import ERROR_FILE, TrialRecord, read_journal, read_results, replace_file


def controller_of(tune_controller: Any) -> Any:
    """The controller itself: schedulers are called with it or with a wrapper around it."""
    return getattr(tune_controller, "_tune_controller", tune_controller)


class ControllerHooks:
    """Mixed in first into every scheduler (see the module's docstring). A scheduler that
    chooses the trial to run itself calls :meth:`prepare` first in ``choose_trial_to_run``."""

    retires_trials = True

    def on_trial_add(self, tune_controller, trial) -> None:
        self._session(tune_controller).added(trial)
        # A mixin: the TrialScheduler it is mixed into, next in the MRO, has the method.
        super().on_trial_add(tune_controller, trial)  # type: ignore[misc]

    def choose_trial_to_run(self, tune_controller):
        self.prepare(tune_controller)
        return super().choose_trial_to_run(tune_controller)  # type: ignore[misc]  # as on_trial_add's

    def prepare(self, tune_controller) -> None:
        """Before the controller starts trials, at every step: finish what resume reconciled,
        retire the trials that ended."""
        self._session(tune_controller).prepare(self)

    def _session(self, tune_controller) -> _Session:
        controller = controller_of(tune_controller)
        session = self.__dict__.get("_hpo_session")
        if session is None or session.controller is not controller:
            session = self.__dict__["_hpo_session"] = _Session(controller, self.retires_trials)
        return session

    def __getstate__(self) -> dict:  # the session holds a controller: not pickled
        return {k: v for k, v in self.__dict__.items() if k != "_hpo_session"}


SLOTS_EVERY_S = 10.0  # how often the trials the cluster holds at once are counted again (nodes join)


class _Session:
    """One controller's run: set up at the first hook, then called at every step."""

    def __init__(self, controller, retires_trials: bool):
        self.controller = controller
        self.retires_trials = retires_trials
        # None: the limit on trials waiting to start left to Ray (set in the environment).
        self.least_pending: int | None = (
            None if "TUNE_MAX_PENDING_TRIALS_PG" in os.environ else controller._max_pending_trials
        )
        self.slots = 0
        self.slots_counted = float("-inf")
        _copy_snapshots_whole(controller)
        # On resume: the trials of the journal, those it has ended (completed, never run again),
        # and every trial known (counted against the experiment's plan).
        self.recorded: dict[str, TrialRecord] = {}
        self.ended: dict[str, TrialRecord] = {}
        self.known: set[str] | None = None
        self.to_complete: list = []
        # Ray says it resumed only once it has added the restored trials; the journal's last
        # session, which the runner wrote before Ray began, says it from the start.
        journal = read_journal(controller.experiment_path)
        session = journal.sessions[-1] if journal.sessions else {}
        if session.get("kind") == "resume":
            self.recorded = {**journal.trials, **journal.dropped}
            self.ended = {
                i: r
                for i, r in journal.trials.items()
                if r.status == "TERMINATED" or (r.status == "ERROR" and not session.get("retry_errored"))
            }
            self.known = set(journal.trials)

    def added(self, trial) -> None:
        if self.known is None:
            return
        record = self.recorded.get(trial.trial_id)
        if record is not None and not trial.relative_logdir:  # proposed again: its directory and past are its own
            _adopt(trial, self.controller.experiment_path, record)
        if trial.trial_id in self.ended and not trial.is_finished():
            self.to_complete.append(trial)
        _forget_deleted_checkpoints(trial)
        self.known.add(trial.trial_id)
        search = self.controller.search_alg
        if len(self.known) >= search.total_samples > 0:
            search.set_finished()

    def prepare(self, scheduler) -> None:
        while self.to_complete:
            trial = self.to_complete.pop()
            if not trial.is_finished():
                self._complete(scheduler, trial, self.ended[trial.trial_id])
        if self.retires_trials:
            self._retire()
        if self.least_pending is not None:
            self._fill_free_slots(self.least_pending)

    def _fill_free_slots(self, least_pending: int) -> None:
        """Let Ray start a trial in every slot free now (see the module's docstring)."""
        controller = self.controller
        if time.monotonic() - self.slots_counted >= SLOTS_EVERY_S and controller._trials:
            self.slots = trials_at_once(controller._trials[0].placement_group_factory.required_resources)
            self.slots_counted = time.monotonic()
        controller._max_pending_trials = max(least_pending, self.slots - len(controller._running_trials))

    def _complete(self, scheduler, trial, record: TrialRecord) -> None:
        """End a trial as the journal says it ended, without running it."""
        controller = self.controller
        trial_dir = os.path.join(controller.experiment_path, record.name)
        reports = read_results(trial_dir)
        if reports:
            trial.update_last_result(dict(reports[-1]))
        result = flatten_dict(trial.last_result or {})
        if record.status == "ERROR":
            scheduler.on_trial_error(controller, trial)
            controller.search_alg.on_trial_complete(trial.trial_id, error=True)
            if os.path.exists(os.path.join(trial_dir, ERROR_FILE)):
                trial.run_metadata.error_filename = ERROR_FILE
        else:
            scheduler.on_trial_complete(controller, trial, result)
            controller.search_alg.on_trial_complete(trial.trial_id, result=result)
        controller._set_trial_status(trial, Trial.ERROR if record.status == "ERROR" else Trial.TERMINATED)
        controller._live_trials.discard(trial)
        controller._mark_trial_to_checkpoint(trial)

    def _retire(self) -> None:
        """Drop the trials that ended, and that the controller is done with, from its lists."""
        controller = self.controller
        if not controller._stopped_trials:
            return
        busy = set(controller._queued_trial_decisions) | set(controller._cached_trial_decisions)
        retiring = {
            trial
            for trial in controller._stopped_trials
            if trial not in controller._trial_to_actor
            and trial not in controller._resetting_trials
            and trial not in controller._staged_trials
            and not trial.is_saving
            and trial.trial_id not in busy
        }
        if len(retiring) == len(controller._trials):  # Ray cannot restore a snapshot without a trial
            retiring.discard(next(iter(retiring)))
        if not retiring:
            return
        controller._trials[:] = [t for t in controller._trials if t not in retiring]
        controller._stopped_trials.difference_update(retiring)
        controller._trials_to_cache.difference_update(retiring)
        for trial in retiring:
            controller._trial_metadata.pop(trial.trial_id, None)


def fit(tuner) -> None:
    """``tuner.fit()``, with the trainable's class looked up once (:class:`_RegistryOnce`),
    placement groups cancelled during their creation removed once created
    (:class:`CreatedPlacementGroupsRemoved`), and without the ResultGrid Ray builds once the
    experiment ended: Ray 2.60 fails building it where a trial was created and never started (an
    iteration budget spent, a trial proposed again on resume and completed from the journal),
    reading the directory such a trial never had. The experiment is read from its own directory
    instead."""
    from ray.tune import registry
    from ray.tune.execution import tune_controller

    # Ray's registry and its placement group manager swapped for ours during the fit, and back:
    # a deliberate patch of Ray's internals, hence the ignores.
    original = registry._global_registry, tune_controller.PlacementGroupResourceManager
    registry._global_registry = _RegistryOnce(original[0])  # type: ignore[assignment]
    tune_controller.PlacementGroupResourceManager = CreatedPlacementGroupsRemoved  # type: ignore[misc]
    try:
        tuner.fit()
    except RuntimeError as e:
        if "without setting `trial_dir_name`" not in str(e):
            raise
    finally:
        registry._global_registry, tune_controller.PlacementGroupResourceManager = original  # type: ignore[misc]


class CreatedPlacementGroupsRemoved(PlacementGroupResourceManager):
    """Ray Tune's placement groups, but a request cancelled before its group was created
    removes the group once Ray has created it, not while Ray may be creating it. Tune cancels
    such requests all the time: a trial that waits for resources takes the actor of a trial
    that just ended instead. Ray 2.60, asked to remove a group it is creating, can leave the
    group's CPUs taken in the raylet for good, with neither actor nor group left to hold them:
    in a long-lived driver (a notebook, a test session) every later experiment that needs the
    whole cluster then waits forever. The groups not created when the experiment ends (no room
    for them) are removed after ``END_WAIT_S``."""

    #: At the experiment's end, how long to wait for the cancelled groups to be created.
    END_WAIT_S = 0.5
    #: Least time between two looks at the groups' states.
    LOOK_EVERY_S = 0.05

    def __init__(self, update_interval_s: float = 0.1):
        super().__init__(update_interval_s=update_interval_s)
        # Cancelled before created: each group by the future Ray resolves once it is created.
        self._to_remove: dict[ray.ObjectRef, Any] = {}
        self._last_look = 0.0

    def cancel_resource_request(self, resource_request) -> None:
        staged = self._request_to_staged_pgs[resource_request]
        if not staged:  # its group is created: Ray's own path
            return super().cancel_resource_request(resource_request)
        group = staged.pop()
        future = self._pg_to_staging_future.pop(group)
        self._staging_future_to_pg.pop(future)
        self._pg_to_request.pop(group)
        self._to_remove[future] = group

    def update_state(self) -> None:
        super().update_state()
        if self._to_remove and time.monotonic() - self._last_look > self.LOOK_EVERY_S:
            self._remove_created()

    def clear(self) -> None:
        if ray.is_initialized() and self._to_remove:
            deadline = time.monotonic() + self.END_WAIT_S
            while self._remove_created() and time.monotonic() < deadline:
                time.sleep(0.01)
            for group in self._to_remove.values():
                remove_placement_group(group)
        super().clear()  # re-initialises, _to_remove included

    def _remove_created(self) -> dict:
        """Remove the cancelled groups Ray has created; those still to remove. Created is told
        by each group's readiness future, as Ray Tune tells its own staged groups (a local look,
        no call to the GCS: asking the GCS, for the table of every group the cluster ever had or
        for each group, cost more with every trial of the experiment)."""
        self._last_look = time.monotonic()
        created, _ = ray.wait(list(self._to_remove), num_returns=len(self._to_remove), timeout=0)
        for future in created:
            remove_placement_group(self._to_remove.pop(future))
        return self._to_remove


class _RegistryOnce:
    """Ray Tune's registry, its answers kept while an experiment runs. For each trial it
    starts, Ray looks up the trainable's class five times in the cluster's key-value store (a
    round trip to the GCS each, and an unpickling of the class twice): a fifth of the
    controller's time per trial on short trials. The class does not change during a run; a
    registration or unregistration clears what was kept."""

    def __init__(self, registry):
        self._registry = registry
        self._kept: dict[tuple[str, str], Any] = {}

    def contains(self, category: str, key: str) -> bool:
        return (category, key) in self._kept or self._registry.contains(category, key)

    def get(self, category: str, key: str) -> Any:
        if (category, key) not in self._kept:
            self._kept[(category, key)] = self._registry.get(category, key)
        return self._kept[(category, key)]

    def __getattr__(self, name: str) -> Any:
        if name in ("register", "unregister", "unregister_all"):  # what was kept may change
            self._kept.clear()
        return getattr(self._registry, name)


def set_callbacks(tuner, callbacks: list) -> None:
    """The callbacks of a Tuner restored from its directory: Ray's restore brings back those
    of the first run, pickled; a resume has its own (its verbosity, its journal)."""
    tuner._local_tuner._run_config.callbacks = callbacks


def stop_waiting_trial(tune_controller, trial) -> None:
    """Stop a trial that waits (paused or pending) and is not running. Ray saves the new status
    of a trial it stops while it has no actor only with the next change of that trial (never):
    its snapshot, hence resume, would have it waiting still."""
    tune_controller.stop_trial(trial)
    controller_of(tune_controller)._mark_trial_to_checkpoint(trial)


def _adopt(trial, experiment_path: str, record: TrialRecord) -> None:
    """A trial the random or grid searcher proposes again on resume (the same id, its state
    being the snapshot's) takes the directory and the last report the journal has of it:
    otherwise Ray gives it a new directory beside the old one, and a scheduler replaying the
    reports of its trials would not find them."""
    name = record.name
    trial.relative_logdir = name
    trial.storage.trial_dir_name = name
    reports = read_results(os.path.join(experiment_path, name))
    if reports:
        trial.update_last_result(dict(reports[-1]))


def _forget_deleted_checkpoints(trial) -> None:
    """A trial restored from a snapshot older than its checkpoints: those the snapshot lists
    that were deleted since (Ray keeps ``num_to_keep``) are forgotten, or Ray would fail the
    trial deleting them again, or restoring it from one; it restores from the newest left."""
    manager = trial.run_metadata.checkpoint_manager
    kept = [r for r in manager._checkpoint_results if os.path.isdir(r.checkpoint.path)]
    latest = manager._latest_checkpoint_result
    if len(kept) == len(manager._checkpoint_results) and (latest is None or os.path.isdir(latest.checkpoint.path)):
        return
    manager._checkpoint_results = kept
    if latest is not None and not os.path.isdir(latest.checkpoint.path):
        manager._latest_checkpoint_result = max(kept, key=lambda r: r.checkpoint.path, default=None)
        trial.invalidate_json_state()


def _copy_snapshots_whole(controller) -> None:
    """The controller's snapshots, copied into the experiment directory by a
    :class:`WholeFileSyncer`."""
    manager = controller._checkpoint_manager
    storage = copy.copy(manager._storage)
    syncer = storage.syncer
    storage.syncer = WholeFileSyncer(
        storage_filesystem=syncer.storage_filesystem, sync_period=syncer.sync_period, sync_timeout=syncer.sync_timeout
    )
    manager._storage = storage


class WholeFileSyncer(_FilesystemSyncer):
    """Ray's syncer, copying each file of a folder whole: under a temporary name in the
    destination folder, then renamed over the file (on a local or shared POSIX filesystem;
    elsewhere, as Ray does)."""

    def _sync_up_command(self, local_path, uri, exclude=None):
        return _upload_whole_files, dict(
            local_path=local_path, fs=self.storage_filesystem, fs_path=uri, exclude=exclude
        )


def _upload_whole_files(local_path: str, fs, fs_path: str, exclude=None) -> None:
    if not isinstance(fs, pyarrow.fs.LocalFileSystem):
        _upload_to_fs_path(local_path=local_path, fs=fs, fs_path=fs_path, exclude=exclude)
        return
    for root, _dirs, files in os.walk(local_path):
        for name in files:
            source = os.path.join(root, name)
            relative = os.path.relpath(source, local_path)
            if exclude and any(fnmatch.fnmatch(relative, pattern) for pattern in exclude):
                continue
            destination = os.path.join(fs_path, relative)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with open(source, "rb") as f:
                replace_file(destination, f.read())


class NoRayTrialLines(TrialProgressCallback):
    """In place of Ray Tune's own per-trial progress printer, which Ray adds to every run,
    prints nothing below its verbosity 2, and keeps every trial it has seen (the last result
    of each, and the trial itself): memory that grew with the experiment, for nothing."""

    def on_trial_result(self, iteration, trials, trial, result, **info):
        pass

    def on_trial_error(self, iteration, trials, trial, **info):
        pass

    def on_trial_complete(self, iteration, trials, trial, **info):
        pass
