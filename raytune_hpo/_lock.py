"""One experiment at a time per directory: ``hpo.lock`` in the experiment directory.

``run`` and ``resume`` hold an exclusive ``flock`` on that file from before they write anything
until they end; the file names the holder (pid, host, start) for the one-line refusal a second
process gets. The kernel releases the lock when the holder's process ends in any way (a crash,
``SIGKILL``, a node lost on a shared filesystem once its lease expires), so no lock outlives its
run; the file stays, emptied at a clean end. Reading an experiment (``load``, ``show``,
``report``) never takes it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator

from raytune_hpo.directory import LOCK_FILE
from raytune_hpo.errors import ConfigError

# flock not supported by the filesystem (some NFS or Lustre mounts): run unlocked, with a warning.
_NO_LOCKING = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


@contextlib.contextmanager
def experiment_lock(path: str) -> Iterator[None]:
    """Hold the experiment directory ``path`` (created if missing) for this process, or raise
    :class:`ConfigError` naming the live process that holds it."""
    lock_path = os.path.join(path, LOCK_FILE)
    try:
        os.makedirs(path, exist_ok=True)
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(
            f"{path!r}: cannot write the lock file {LOCK_FILE} ({e.strerror}); "
            "the experiment directory must be writable"
        ) from None
    try:
        locked = _acquire(descriptor, path)
        if locked:
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps(owner).encode(), 0)
        try:
            yield
        finally:
            if locked:
                os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock


def _acquire(descriptor: int, path: str) -> bool:
    """Lock without waiting: True, or False (with a warning) where the filesystem cannot."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        raise ConfigError(
            f"{path!r}: the experiment is being run by {_holder(descriptor)}; wait for it to end "
            "or stop that process (a run that crashed frees it by itself), then resume it"
        ) from None
    except OSError as e:
        if e.errno not in _NO_LOCKING:
            raise
        print(
            f"raytune-hpo: warning: {path}: this filesystem cannot lock files ({e.strerror}); "
            "make sure no other process runs or resumes this experiment",
            file=sys.stderr,
        )
        return False


def _holder(descriptor: int) -> str:
    """The holder as its lock file names it: ``pid 123 on host node1 since <time>``."""
    try:
        owner = json.loads(os.pread(descriptor, 4096, 0))
        return f"pid {owner['pid']} on host {owner['host']} since {owner['started']}"
    except (OSError, ValueError, KeyError, TypeError):  # the holder is writing it this instant
        return "another process"


def is_held(path: str) -> bool:
    """Whether a process holds the lock of the experiment ``path`` now (False where the
    filesystem cannot lock files)."""
    try:
        descriptor = os.open(os.path.join(path, LOCK_FILE), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)  # and with it the shared lock, where it was taken
