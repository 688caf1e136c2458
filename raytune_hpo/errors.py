"""The errors raytune-hpo raises on purpose, each with a message of one line.

    HPOError                      every one of them
    ├── ConfigError (ValueError)  an input mistake: a space, a pairing, an option, a path;
    │                             found before any trial runs
    ├── StorageFull               the experiment's filesystem filled up (or turned read-only)
    │                             while it ran; its state is saved: free space, then resume
    ├── DamagedExperiment         an experiment directory whose record cannot be read back
    └── SubmissionRefused         ``sbatch`` refused a job, or is not there

A script gets them as ordinary exceptions; importing :mod:`raytune_hpo` changes no global
state. The ``raytune-hpo`` command shows an :class:`HPOError` as that one line, exit status 2.
:class:`Interrupted` is apart: a ``KeyboardInterrupt``, as the Ctrl-C that causes it most often.
"""

from __future__ import annotations

from typing import Any


class HPOError(Exception):
    """An error of raytune-hpo's, its message one line saying what happened and what to do."""


class ConfigError(HPOError, ValueError):
    """A user mistake, found before any trial runs; the message names the field and the fix."""


class StorageFull(HPOError):
    """The experiment stopped because its storage filled up, its state saved; the message
    says how to resume it."""


class DamagedExperiment(HPOError):
    """An experiment directory whose record (metadata, journal, Ray's state) cannot be read."""


class SubmissionRefused(HPOError):
    """SLURM's ``sbatch`` refused the job, or cannot be found."""


class Interrupted(KeyboardInterrupt):
    """The experiment was stopped before its end by a signal (Ctrl-C, SIGTERM, a closed
    terminal, SLURM's time-limit warning), its state saved. The message is one line saying
    how far it got and how to finish it; ``results`` holds it as it stopped. A
    ``KeyboardInterrupt``: code that catches ``Exception`` lets it through, as it does Ctrl-C."""

    def __init__(self, message: str, results: Any):
        super().__init__(message)
        self.results = results
