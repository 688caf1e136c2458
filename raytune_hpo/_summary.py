"""What the command prints at the end of a run, and ``show`` of an experiment's errors."""

from __future__ import annotations

import sys
from typing import TextIO

from raytune_hpo.results import Results


def summary(results: Results) -> int:
    """The end of a run: the best result, errors in one line each; 1 where trials failed."""
    best = results.best_metrics
    print(f"{len(results.trials)} trials, {results.num_errors} errored; experiment in {results.path}")
    if best is not None:
        print(f"best {results.metric}: {best[results.metric]:.6g}; configuration: {results.best_config}")
    print_errors(results, sys.stderr)
    return 1 if results.num_errors else 0


def print_errors(results: Results, stream: TextIO) -> None:
    """Each failed trial in one line, its name and its error (the exception's line); likewise
    a trial that failed and recovered on a retry, and one stopped at a NaN or infinite metric."""
    for trial in results.trials:
        if trial.error_line:
            retried = "" if trial.status == "ERROR" else " (recovered on a retry)"
            print(f"error in {trial.name}{retried}: {trial.error_line}", file=stream)
        non_finite = trial.non_finite(results.metric)
        if non_finite:
            print(f"{trial.name}: {non_finite}; stopped there, never chosen as best", file=stream)
