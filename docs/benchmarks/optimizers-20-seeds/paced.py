"""A pairing of ours on Hartmann-6 and Branin with every iteration taking 30 ms (the problems'
``seconds_per_iteration``), so that its two trials at a time really overlap in Ray, as the
reference implementations' two jobs do on their clock of iterations. Same streams, budget and
targets as runs.jsonl; one JSON line per run on stdout.

    python docs/benchmarks/optimizers-20-seeds/paced.py dehb > docs/benchmarks/optimizers-20-seeds/paced-dehb.jsonl
"""

import json
import sys
import tempfile
from dataclasses import asdict

import ray

from raytune_hpo._ray.session import init_ray
from raytune_hpo.bench.optimizers import run_pairing, stream
from raytune_hpo.bench.problems import problems

PACE = 0.03
pairing = sys.argv[1]
init_ray()
suite = problems()
with tempfile.TemporaryDirectory() as storage:
    for seed in range(20):
        for name in ("hartmann6", "branin"):
            problem = suite[name]
            space = {**problem.space, "seconds_per_iteration": PACE}
            name_of_run = f"{name}-{seed}"
            run = run_pairing(problem, pairing, stream(pairing, seed), 1080, storage, 1.0, name_of_run, space=space)
            run.seed = seed
            print(json.dumps({**asdict(run), "seconds_per_iteration": PACE}), flush=True)
            print(name, seed, run.final, file=sys.stderr, flush=True)
ray.shutdown()
