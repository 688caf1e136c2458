"""Quickstart: TPE proposes, ASHA stops the poor trials early; 30 trials of a CNN on the digits.

    python experiments/quickstart.py [--samples 30] [--storage runs]

About two minutes on two CPU cores; prints the best configuration and its validation accuracy.
Ctrl-C stops it with its state saved, and says how to finish it (``raytune-hpo resume DIR``).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import raytune_hpo as hpo  # noqa: E402
from experiments.digits import SPACE, train  # noqa: E402


def main(argv: list[str] | None = None) -> hpo.Results:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--storage", default="runs")
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)

    results = hpo.run(
        train, SPACE, metric="val_loss", mode="min",
        searcher="tpe", scheduler="asha", num_samples=args.samples, max_t=SPACE["epochs"],
        searcher_options={"n_initial_points": 10},
        scheduler_options={"grace_period": 2, "reduction_factor": 3},
        storage=args.storage, name=args.name, seed=0, verbose=1,
    )
    best = results.best_metrics
    print(f"\n{len(results.trials)} trials, {results.num_errors} errors; experiment in {results.path}")
    print(f"best configuration: {results.best_config}")
    print(f"best val_loss {best['val_loss']:.4f}, val_accuracy {best['val_accuracy']:.4f} "
          f"(epoch {best['training_iteration']})")
    return results


if __name__ == "__main__":
    try:
        main()
    except hpo.Interrupted as stopped:  # Ctrl-C: the state is saved; the line says how to go on
        print(f"\n{stopped}", file=sys.stderr)
        sys.exit(130)
