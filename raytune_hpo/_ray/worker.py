"""What a trial's worker process needs of Ray beyond its public API.

Ray's workers turn SIGTERM into ``SystemExit`` raised from a signal handler, and such an exit is
lost where the signal lands in code that swallows exceptions, a weakref callback run by the
garbage collector say: Python prints it as "Exception ignored" with a traceback (forwarded to the
driver's terminal) and the worker runs on until the raylet kills it. Seen when an experiment is
stopped (Ctrl-C, SIGTERM) and Ray stops the workers of its trials.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

_RESEND_AFTER_S = 0.1


def resend_lost_sigterm_exits() -> None:
    """In this process, a lost SIGTERM exit of Ray's is sent again, a moment later, so
    that the worker exits as Ray meant it to, silently; any other exception that cannot be
    raised goes to the hook there was. Once per process (trials may share a worker)."""
    previous = sys.unraisablehook
    if getattr(previous, "resends_lost_sigterm_exits", False):
        return

    def hook(unraisable: Any) -> None:
        if "SIGTERM" in getattr(unraisable.exc_value, "ray_terminate_msg", ""):
            # Sent at once, even from another thread, the signal's handler would run inside this
            # hook and be lost again; a tenth of a second on, this hook has long returned.
            resend = threading.Timer(_RESEND_AFTER_S, os.kill, args=(os.getpid(), signal.SIGTERM))
            resend.daemon = True
            resend.start()
        else:
            previous(unraisable)

    hook.resends_lost_sigterm_exits = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook
