"""Scores paced runs (paced.py) against the targets of runs.jsonl, beside the same pairing's
unpaced runs and a reference implementation:

    python docs/benchmarks/optimizers-20-seeds/paced_score.py \\
        docs/benchmarks/optimizers-20-seeds/paced-dehb.jsonl dehb dehb-package
"""

import json
import os
import statistics
import sys

from raytune_hpo.bench._scoring import Run
from raytune_hpo.bench.optimizers import TARGET_POOL, _read_runs, mann_whitney, pool_target, stream, summarise
from raytune_hpo.bench.problems import problems

NAMES = ("hartmann6", "branin")
paced_log, pairing, reference = sys.argv[1:4]
paced_name = f"{pairing} paced"  # a pairing of its own for summarise

here = os.path.dirname(os.path.abspath(__file__))
base = [r for r in _read_runs(os.path.join(here, "runs.jsonl")) if r.stream == stream(r.pairing, r.seed)]
targets = {n: pool_target([r for r in base if r.problem == n and r.pairing == TARGET_POOL]) for n in NAMES}
optima = {n: problems()[n].optimum for n in NAMES}
paced = []
with open(paced_log) as f:
    for row in map(json.loads, f):
        del row["seconds_per_iteration"]  # written beside the run's own fields by paced.py
        paced.append(Run(**{**row, "pairing": paced_name, "trajectory": [tuple(p) for p in row["trajectory"]]}))

chosen = [r for r in base + paced if r.pairing in (pairing, paced_name, reference)]
rows = {(r.problem, r.pairing): r for r in summarise(chosen, optima, targets)}
for n in NAMES:
    unpaced, paced_row, ref = rows[n, pairing], rows[n, paced_name], rows[n, reference]
    medians = [statistics.median(row.regrets) for row in (unpaced, paced_row, ref)]
    print(n, "within 0.10: unpaced", unpaced.within(0.10), "paced", paced_row.within(0.10), reference, ref.within(0.10))
    print(n, f"median regret: unpaced {medians[0]:.3g} paced {medians[1]:.3g} {reference} {medians[2]:.3g}")
    p_reference, p_unpaced = (mann_whitney(paced_row.regrets, other.regrets) for other in (ref, unpaced))
    print(n, f"p paced vs {reference} {p_reference:.3g}, paced vs unpaced {p_unpaced:.3g}")
    fractions = ["-" if f == float("inf") else f"{f:.3f}" for f in paced_row.fractions_or_inf]
    print(n, "fractions paced:", " ".join(fractions))
