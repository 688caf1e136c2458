"""One run on Hartmann-6 followed report by report: where the incumbent first reaches the
target, and which trial made each report in the first 140, as trial:first-last iterations
(trials numbered as they first report). Our pairings run through Ray (with ``--pace S``, every
iteration taking S seconds); the reference implementations on their clock of iterations.

    python docs/benchmarks/optimizers-20-seeds/trace.py dehb 4 [--pace 0.03]
"""

import argparse
import tempfile

from raytune_hpo.bench._references import REFERENCES
from raytune_hpo.bench._scoring import trajectory
from raytune_hpo.bench.optimizers import _run_ours, stream
from raytune_hpo.bench.problems import problems

TARGET = -1.25101  # Hartmann-6's, table.md
parser = argparse.ArgumentParser()
parser.add_argument("pairing")
parser.add_argument("seed", type=int)
parser.add_argument("--pace", type=float, default=0.0)
args = parser.parse_args()
problem = problems()["hartmann6"]
seed = stream(args.pairing, args.seed)
if args.pairing in REFERENCES:
    reports = REFERENCES[args.pairing](problem, seed, 1080).reports
    key = "trial"
else:
    space = {**problem.space, "seconds_per_iteration": args.pace} if args.pace else problem.space
    with tempfile.TemporaryDirectory() as storage:
        reports, _ = _run_ours(problem, args.pairing, seed, 1080, storage, 1.0, "trace", space=space)
    key = "trial_id"
reached = next((used for used, value in trajectory(reports, 1080) if value <= TARGET), None)
numbers: dict = {}
segments: list = []
for r in sorted(reports, key=lambda r: r["reported_at"])[:140]:
    n = numbers.setdefault(r[key], len(numbers))
    if segments and segments[-1][0] == n:
        segments[-1][2] = r["training_iteration"]
    else:
        segments.append([n, r["training_iteration"], r["training_iteration"]])
print(f"{args.pairing} seed {args.seed} pace {args.pace}: target reached at report {reached}")
print(" ".join(f"{n}:{a}-{b}" for n, a, b in segments))
