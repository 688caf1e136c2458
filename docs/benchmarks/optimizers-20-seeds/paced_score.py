"""Scores paced runs (paced.py) against the targets of runs.jsonl, beside the same pairing's
unpaced runs and a reference implementation:

    python docs/benchmarks/optimizers-20-seeds/paced_score.py docs/benchmarks/optimizers-20-seeds/paced-dehb.jsonl dehb dehb-package
"""

import json
import os
import statistics
import sys
from raytune_hpo.bench.optimizers import TARGET_POOL, _read_runs, pool_target, stream, summarise, mann_whitney
from raytune_hpo.bench._scoring import Run
from raytune_hpo.bench.problems import problems
base = [r for r in _read_runs(os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.jsonl")) if r.stream == stream(r.pairing, r.seed)]
names = ("hartmann6", "branin")
targets = {n: pool_target([r for r in base if r.problem == n and r.pairing == TARGET_POOL]) for n in names}
optima = {n: problems()[n].optimum for n in names}
paced = []
for line in open(sys.argv[1]):
    row = json.loads(line); row.pop("seconds_per_iteration")
    r = Run(**{**row, "trajectory": [tuple(p) for p in row["trajectory"]]})
    r.pairing = r.pairing + " paced"
    paced.append(r)
pairing = sys.argv[2]; ref = sys.argv[3]
rows = {(r.problem, r.pairing): r for r in summarise([r for r in base + paced if r.pairing in (pairing, pairing + " paced", ref)], optima, targets)}
for n in names:
    a, b, c = rows[n, pairing], rows[n, pairing + " paced"], rows[n, ref]
    print(n, "within 0.10: unpaced", a.within(0.10), "paced", b.within(0.10), ref, c.within(0.10))
    print(n, "median regret: unpaced %.3g paced %.3g %s %.3g" % (statistics.median(a.regrets), statistics.median(b.regrets), ref, statistics.median(c.regrets)))
    print(n, "p paced vs %s %.3g, paced vs unpaced %.3g" % (ref, mann_whitney(b.regrets, c.regrets), mann_whitney(b.regrets, a.regrets)))
    print(n, "fractions paced:", " ".join("-" if f == float("inf") else "%.3f" % f for f in b.fractions_or_inf))
