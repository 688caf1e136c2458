"""The Ray session: a local Ray started when none is, the cluster checked against what a trial
asks, and the settings and console filters a run of Ray Tune needs."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from raytune_hpo.errors import ConfigError

RESOURCE_NAMES = ("cpu", "gpu", "memory")
_RAY_RESOURCE = {"cpu": "CPU", "gpu": "GPU", "memory": "memory"}


def ensure_ray(forward_output: bool = True) -> None:
    """Connect to the Ray this process started, or start a local one (or join the cluster at
    ``RAY_ADDRESS``). ``forward_output=False`` (``verbose=0``, ``--quiet``: nothing but the
    summary) keeps the trials' own output in Ray's worker logs instead of this terminal.
    Decided when this process starts Ray; a Ray already started is left as it is."""
    import ray

    if not ray.is_initialized():
        init_ray(log_to_driver=forward_output)


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


def _live_nodes() -> list[dict[str, float]]:
    """The resources of each live node of the running Ray cluster, by Ray's names."""
    import ray

    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]


def trials_at_once(resources: Mapping[str, float]) -> int:
    """How many trials asking for ``resources`` (Ray's names: ``CPU``, ``GPU``, ...) the live
    nodes hold at once; 0 for a trial that asks for nothing."""
    wanted = {key: amount for key, amount in resources.items() if amount > 0}
    if not wanted:
        return 0
    return sum(min(int(node.get(key, 0) / amount + 1e-9) for key, amount in wanted.items()) for node in _live_nodes())


def check_cluster_fits(resources: Mapping[str, float]) -> None:
    """Refuse a trial that no node of the running Ray cluster can hold: Ray would wait forever."""
    nodes = _live_nodes()
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


def ray_verbosity(verbose: int) -> int:
    """Ours: 0 silent, 1 the compact progress line, 2 Ray's status table, 3 Ray's details."""
    return {0: 0, 1: 0, 2: 1}.get(verbose, 3)


@contextlib.contextmanager
def tune_settings(verbose: int, max_pending_trials: int | None) -> Iterator[None]:
    """While Ray Tune runs an experiment: its settings (environment variables a user has not
    set already) and our filter on its console lines; all put back afterwards."""
    # Ray's own loggers are off: its JSON log lost reports when trials restarted (see
    # ExperimentLog), its TensorBoard logger wrote hyperparameters only when a trial ended (see
    # TensorBoardLog). Ray snapshots the experiment every num_to_keep checkpoints of a trial
    # (our 2), so that its snapshot never names a checkpoint deleted since, and warns that this
    # may be too often: by design, and cheap (finished trials are retired from the snapshot).
    settings = {
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
        "TUNE_DISABLE_SIGINT_HANDLER": "1",
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    }
    if max_pending_trials:
        settings["TUNE_MAX_PENDING_TRIALS_PG"] = str(max_pending_trials)
    if verbose < 2:  # Ray's newer console output prints banners even when told to be silent
        settings["RAY_AIR_NEW_OUTPUT"] = "0"
        # A failed trial's traceback is kept in its directory, and the summary tells it in one line.
        settings["TUNE_PRINT_ALL_TRIAL_ERRORS"] = "0"
    console, quiet = logging.getLogger("ray.tune.tune"), _QuietRay()
    # Ray's ResultGrid (unused: Results reads the experiment) warns about every trial that
    # never started, as when an iteration budget ends the experiment.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update({k: v for k, v in settings.items() if saved[k] is None})
    console.addFilter(quiet)
    try:
        yield
    finally:
        console.removeFilter(quiet)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


class _QuietRay(logging.Filter):
    """Drops Ray Tune's console lines that ours say better: the trials that failed (the
    summary tells each in one line), its stop-signal warning ("e.g. via Ctrl+C") and its
    "resume with Tuner.restore" (``Interrupted`` names ``raytune-hpo resume``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            ("Trials did not complete", "Stop signal received", "Experiment has been interrupted")
        )


def in_trial() -> bool:
    """Whether this code runs inside a trial that Ray Tune started (Ray's private session: a
    trial's worker imports this module, not the controller's)."""
    from ray.train._internal.session import get_session

    return get_session() is not None
