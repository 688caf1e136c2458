"""Every trial as a Weights & Biases run, opened by the driver (no actor per trial, unlike Ray's
own ``WandbLoggerCallback``) in the experiment's project (its name unless ``project`` says
otherwise), grouped by experiment (``group``, the experiment's name by default):

- when the trial starts: the run, named after the trial's directory (``trial_00007_<id>``),
  its configuration as the run's config, nested keys dotted (``opt.lr``), constants included,
  and under ``_raytune_hpo`` the experiment's name and the trial's id. A trial that starts
  again with another configuration (a PBT exploit) updates it;
- at each report, one history row: its numeric metrics (nested ones joined with ``/``) and
  ``training_iteration``, the x-axis of every metric. The row's W&B step is the report's
  row in the trial's ``result.json`` (0 for its first report): it only grows, even when the
  iteration goes back (a PBT trial handed an earlier checkpoint), where W&B, whose steps must
  grow, would drop the row;
- when the trial ends: ``status`` (``TERMINATED`` or ``ERROR``, as the journal says) and
  ``node`` (the last report's ``node``, else its ``hostname``) in the run's summary, and the
  run finished, failed where the trial failed. Runs of trials still unfinished when the
  experiment stops (it was interrupted) are finished with ``status`` ``INTERRUPTED``.

The run id is fixed by the experiment (its name and creation time) and the trial id, and
runs are opened with ``resume="allow"``: a trial restarted in a later session (a resume, a
retry of a failed trial) continues its run, its steps after the earlier ones, and never
opens a new one. Within a session a run stays open from the trial's first start to its end,
through every pause and restart (PBT, retries).

W&B writes under the experiment's directory, in ``wandb/``; with ``mode: offline`` each
session of a run is a folder ``wandb/offline-run-<time>-<run id>`` that ``wandb sync`` uploads
later, the sessions of one run in order, into that run. ``mode`` online needs W&B credentials
on the driver's machine, checked when the experiment is planned, before anything is written; offline needs none.

W&B is kept from the host program's global state as far as it allows: runs are objects
(``reinit="create_new"``, never ``wandb.run``), console capture and system metrics are off
(many runs share this process, whose output and machine are not the trial's), and what W&B's
first run in a process installs (its ``sys.excepthook`` and ``sys.exit`` hooks, its service's
address in ``os.environ``, from which child processes would join it) is put back as it was.
With ``mode`` offline or disabled, W&B's own usage telemetry, which would still try to reach
its server, is turned off for the process.

Credentials stay W&B's own (``WANDB_API_KEY``, ``~/.netrc`` from ``wandb login``), never an
option, so never in the experiment's files.

Example (``tracking=`` of :func:`raytune_hpo.run`, or ``tracking:`` in an experiment file)::

    hpo.run(train, space, metric="loss", tracking={"wandb": {"project": "digits", "mode": "offline"}})
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ray.tune import Callback

from raytune_hpo.directory import as_json, read_results
from raytune_hpo.errors import ConfigError
from raytune_hpo.space import dotted
from raytune_hpo.tracking._tensorboard import metric_values  # nested ones joined with '/', as W&B groups charts

if TYPE_CHECKING:
    from wandb.sdk.wandb_run import Run

INTERNAL_KEY = "_raytune_hpo"  # in the run's config: W&B hides keys starting with "_"
_SERVICE_VARIABLE = "WANDB_SERVICE"  # where W&B leaves the address of its service process


@dataclass
class _Open:
    """A trial's run, open in this process."""

    run: Run
    step: int  # the W&B step of the trial's next report
    node: str | None = None  # where its last report ran


class WandbLog(Callback):
    """The Ray Tune callback: one W&B run per trial."""

    def __init__(
        self,
        path: str,
        meta: Mapping[str, Any],
        project: str | None = None,
        entity: str | None = None,
        mode: str | None = None,
        group: str | None = None,
    ) -> None:
        self.path = os.path.abspath(path)
        self.experiment_name: str = meta["name"]
        # The experiment's identity for the run ids: its name and creation time stay the
        # same when its directory is moved (from a scratch filesystem, say) and resumed there.
        self._identity = f"{meta['name']}\0{meta.get('created') or self.path}"
        self.project = project or self.experiment_name
        self.entity = entity
        self.mode = resolved_mode(mode)
        self.group = group or self.experiment_name
        self._runs: dict[str, _Open] = {}

    def __getstate__(self) -> dict:  # pickled with the Tuner: the open runs stay behind
        return {**self.__dict__, "_runs": {}}

    def run_id(self, trial_id: str) -> str:
        """The trial's W&B run id, the same in every session: 16 hex digits (W&B refuses
        ``/\\#?%:``, and a trial id alone is unique only within its experiment)."""
        return hashlib.sha256(f"{self._identity}\0{trial_id}".encode()).hexdigest()[:16]

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info) -> None:
        # Checked when the experiment was planned; again here, for a resume on another machine.
        check_credentials({"mode": self.mode})

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        opened = self._runs.get(trial.trial_id)
        if opened is None:
            self._open(trial)
        else:  # started again in this session (PBT exploit, retry): maybe another configuration
            opened.run.config.update(config_values(trial.config), allow_val_change=True)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        # Ray starts a trial before its first result; should it not, the result is kept anyway.
        opened = self._runs.get(trial.trial_id) or self._open(trial, reported=1)
        row: dict[str, Any] = metric_values(result)
        row["training_iteration"] = result["training_iteration"]
        # commit: the row is written now, not when the next one comes (or never, if the driver dies).
        opened.run.log(row, step=opened.step, commit=True)
        opened.step += 1
        node = result.get("node") or result.get("hostname")
        if node:
            opened.node = str(node)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._end(trial.trial_id, "TERMINATED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._end(trial.trial_id, "ERROR", exit_code=1)

    def on_experiment_end(self, trials, **info) -> None:
        # Interrupted (Ctrl-C, a signal, a full disk): the trials still open end with the
        # session; a resume reopens their runs. "INTERRUPTED" is what hpo.load() says of them.
        for trial_id in list(self._runs):
            self._end(trial_id, "INTERRUPTED")

    def _open(self, trial, reported: int = 0) -> _Open:
        """The trial's run, opened (again); ``reported``: how many of the trial's rows in
        ``result.json`` are reports this process has not logged yet (ExperimentLog, before
        this callback, appends a report there first)."""
        import wandb

        if self.mode != "online":  # no network wanted
            _no_telemetry()
        config = {
            **config_values(trial.config),
            INTERNAL_KEY: {"experiment": self.experiment_name, "trial_id": trial.trial_id},
        }
        with _host_state_kept():
            run = wandb.init(
                id=self.run_id(trial.trial_id),
                resume="allow",
                reinit="create_new",
                project=self.project,
                entity=self.entity,
                group=self.group,
                name=trial.storage.trial_dir_name,
                job_type="trial",
                dir=self.path,
                mode=self.mode,  # type: ignore[arg-type]  # checked by the tracker's options
                config=config,
                allow_val_change=True,  # a resumed run's config may have changed (PBT)
                settings=wandb.Settings(
                    console="off",  # many runs in one process: no run may take its output
                    silent=True,  # no header and footer per trial on the user's terminal
                    x_disable_stats=True,  # this process's machine is not the trial's
                    x_disable_machine_info=True,  # no probing of cloud metadata services
                    x_save_requirements=False,  # the packages are in the experiment's manifest.json
                ),
            )
        run.define_metric("training_iteration")
        run.define_metric("*", step_metric="training_iteration")
        # The next step: after the trial's earlier reports (a resumed or retried trial), and
        # never below what W&B already holds (an online run resumed from its server).
        earlier = len(read_results(trial.storage.trial_fs_path)) - reported
        opened = self._runs[trial.trial_id] = _Open(run, max(earlier, run.step))
        return opened

    def _end(self, trial_id: str, status: str, exit_code: int = 0) -> None:
        opened = self._runs.pop(trial_id, None)
        if opened is None:  # ended before it started (stopped while pending)
            return
        opened.run.summary["status"] = status
        if opened.node is not None:
            opened.run.summary["node"] = opened.node
        opened.run.finish(exit_code=exit_code)


def config_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration as a W&B config: nested keys dotted (``opt.lr``), values as the
    experiment's files hold them (:func:`~raytune_hpo.directory.as_json`: numbers, strings,
    bools, ``None``, lists and an empty dict as they are, numpy's as numbers, any other object
    as its ``str``)."""
    return {name: as_json(value) for name, value in dotted(config).items()}


@contextlib.contextmanager
def _host_state_kept() -> Iterator[None]:
    """W&B's first run in a process starts its service and hooks ``sys.excepthook`` and
    ``sys.exit`` (to pass the exit code to it), and writes the service's address into
    ``os.environ`` (for child processes to join it): all put back as they were. The service
    ends with the process (W&B's ``atexit``), the runs being finished before."""
    excepthook, exit_function, service = sys.excepthook, sys.exit, os.environ.get(_SERVICE_VARIABLE)
    try:
        yield
    finally:
        sys.excepthook, sys.exit = excepthook, exit_function
        if service is None:
            os.environ.pop(_SERVICE_VARIABLE, None)
        else:
            os.environ[_SERVICE_VARIABLE] = service


def resolved_mode(mode: str | None) -> str:
    """``mode``, or where None W&B's own choice: its WANDB_MODE (often exported in cluster
    jobs), else online."""
    mode = mode or os.environ.get("WANDB_MODE") or "online"
    return "offline" if mode == "dryrun" else mode  # W&B's old name for offline


def check_credentials(options: Mapping[str, Any]) -> None:
    """Online, W&B would refuse the first trial's run without credentials (or prompt for a key
    in the middle of the experiment): refused before anything is written."""
    if resolved_mode(options.get("mode")) == "online" and not _logged_in():
        raise ConfigError(
            "tracking.wandb: no W&B API key on this machine; log in once with `wandb login` "
            "(or set WANDB_API_KEY), or use mode: offline and `wandb sync` the runs later"
        )


def _logged_in() -> bool:
    """Whether W&B has credentials here (its environment, ~/.netrc, its settings), asking
    nobody and no server."""
    import wandb

    try:
        return wandb.login(verify=False, prompt=False)
    except TypeError:  # an older wandb, without prompt=: its first run will say
        return True


def _no_telemetry() -> None:
    """W&B's usage telemetry follows the process's default settings, not a run's mode: an
    offline run would still send it (to W&B's server) at exit. Turned off for the process."""
    try:
        from wandb.analytics.opentelemetry.opentelemetry_proxy import disable
    except ImportError:  # an older wandb, without it
        return
    disable()
