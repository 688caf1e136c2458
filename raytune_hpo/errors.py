"""The project's error type for user mistakes, and how it is shown.

Every mistake a user can make in a space, a pairing, an option or a path raises
:class:`ConfigError`: a ``ValueError`` whose message is one line naming the field and the fix.
A script that lets one escape ends with that line on stderr and exit code 2, not a traceback:
the hook below is installed when :mod:`raytune_hpo` is imported and handles only this type.
"""

from __future__ import annotations

import atexit
import os
import sys
from types import TracebackType


class ConfigError(ValueError):
    """A user mistake, found before any trial runs. The message is one line."""


class Interrupted(KeyboardInterrupt):
    """The experiment was stopped before its end by a signal (Ctrl-C, SIGTERM, a closed
    terminal, SLURM's time-limit warning), its state saved. The message is one line saying
    how far it got and how to finish it; ``results`` holds it as it stopped. A
    ``KeyboardInterrupt``: code that catches ``Exception`` lets it through, as it does Ctrl-C."""

    def __init__(self, message: str, results):
        super().__init__(message)
        self.results = results


def _show_config_error(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
    _previous=sys.excepthook,
) -> None:
    if isinstance(exc, ConfigError):
        print(f"raytune-hpo: error: {exc}", file=sys.stderr)
        # An excepthook cannot choose the exit status (it is 1); run the exit handlers
        # (Ray's shutdown among them) and leave with 2, the status of every bad-input exit.
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)
    _previous(exc_type, exc, tb)


def install_excepthook() -> None:
    """Show an escaping :class:`ConfigError` as one line and exit with status 2."""
    if sys.excepthook is not _show_config_error:
        sys.excepthook = _show_config_error
