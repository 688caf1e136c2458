"""Ray Tune's failures translated into one line each: what happened, and how to go on.

Ray reports a missing metric as a traceback around a ``ValueError``, a full disk as whatever
``OSError`` its last write raised, a state it cannot restore as its own exception; each becomes
one of :mod:`raytune_hpo.errors`.
"""

from __future__ import annotations

import errno
import re

from raytune_hpo._objectives import Objectives
from raytune_hpo.errors import ConfigError, DamagedExperiment, StorageFull
from raytune_hpo.results import RAY_FIELDS

STORAGE_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _resume_command(path: str, failed: int) -> str:
    if not failed:
        return f"hpo.resume({path!r}) (raytune-hpo resume {path})"
    return (
        f"hpo.resume({path!r}, retry_errored=True) (raytune-hpo resume {path} --retry-errored), "
        f"which also reruns its {failed} failed trials"
    )


def out_of_space(path: str, free: int, failed: int) -> StorageFull:
    """The experiment was interrupted by :class:`~raytune_hpo._storage.LowSpace`, its state saved."""
    return StorageFull(
        f"storage: only {free / 2**20:.1f} MiB left on the filesystem of {path!r}; the experiment "
        f"stopped with its state saved; free space, then resume it: {_resume_command(path, failed)}"
    )


def storage_fault(error: OSError, path: str) -> StorageFull | None:
    """A write refused for want of space (or on a read-only filesystem) faster than LowSpace
    could stop the experiment; None for any other ``OSError``."""
    if error.errno not in STORAGE_FAULTS:
        return None
    return StorageFull(
        f"storage: {error.strerror} in {path!r}; the experiment stopped; free space (or make it writable), "
        f"then resume it, rerunning the trials that failed: hpo.resume({path!r}, retry_errored=True) "
        f"(raytune-hpo resume {path} --retry-errored)"
    )


def metric_missing(error: Exception, path: str, objectives: Objectives) -> ConfigError | None:
    """Ray stops the experiment at the first report without the metric (and
    :class:`~raytune_hpo._stop.Guard` at the first without another objective or a constrained
    metric), with a traceback around a ValueError that quotes the report: that, as one line
    naming what was reported; None for another failure."""
    cause = error.__context__
    if not isinstance(cause, ValueError) or "did not include the specified metric" not in str(cause):
        return None
    named = re.search(r"metric\(s\) `([^`]+)`", str(cause))
    metric = named.group(1) if named and named.group(1) in objectives.reported else objectives.primary
    field = "metric" if metric in objectives.metrics else f"constraints.{metric}"
    reported = [
        k
        for k in re.findall(r"'([^']+)': ", str(cause).partition("Result: ")[2])
        if k not in RAY_FIELDS and not k.startswith("config/")
    ]
    fix = "set metric to a name reported" if field == "metric" else "drop the constraint"
    return ConfigError(
        f"{field}: a trial reported {', '.join(reported) or 'nothing'} but not {metric!r}; every "
        f"hpo.report() must include {metric}=..., or {fix}; the experiment "
        f"stopped, run it again under another name (or after removing {path!r})"
    )


def restore_failed(error: Exception, path: str) -> DamagedExperiment:
    """Ray Tune could not read its saved state: ``tuner.pkl`` missing or cut short, or a state
    it cannot read."""
    reason = (str(error).strip().splitlines() or [""])[0]
    return DamagedExperiment(
        f"{path!r}: Ray Tune cannot restore the experiment ({type(error).__name__}: {reason}); "
        "the experiment record is damaged"
    )
