"""What the command prints at the end of a run, and ``show`` of an experiment's errors."""

from __future__ import annotations

import sys
from typing import TextIO

from raytune_hpo._options import is_number
from raytune_hpo.results import Results


def print_front(results: Results, out: TextIO) -> None:
    """The Pareto front of an experiment with several objectives, a line per trial."""
    front = results.pareto_front()
    print(f"Pareto front ({results.objectives.describe()}): {len(front)} trials", file=out)
    for row in front.to_dict("records"):
        values = ", ".join(f"{m} {row[m]:.6g}" for m in results.objectives.reported if is_number(row.get(m)))
        config = {k[len("config.") :]: v for k, v in row.items() if k.startswith("config.")}
        print(f"  {row['name']}: {values}; {config}", file=out)


def summary(results: Results) -> int:
    """The end of a run: the best result, errors in one line each; 1 where trials failed."""
    print(f"{len(results.trials)} trials, {results.num_errors} errored; experiment in {results.path}")
    if results.objectives.several:
        print_front(results, sys.stdout)
    elif (best := results.best_metrics) is not None:
        metric = results.objectives.primary
        print(f"best {metric}: {best[metric]:.6g}; configuration: {results.best_config}")
    print_errors(results, sys.stderr)
    return 1 if results.num_errors else 0


def print_errors(results: Results, stream: TextIO) -> None:
    """Each failed trial in one line, its name and its error (the exception's line); likewise
    a trial that failed and recovered on a retry, and one stopped at a NaN or infinite metric."""
    for trial in results.trials:
        if trial.error_line:
            retried = "" if trial.status == "ERROR" else " (recovered on a retry)"
            print(f"error in {trial.name}{retried}: {trial.error_line}", file=stream)
        non_finite = trial.non_finite(results.objectives.primary)
        if non_finite:
            print(f"{trial.name}: {non_finite}; stopped there, never chosen as best", file=stream)
