"""The training function of the SLURM tests: ``steps`` reports of ``sleep`` seconds each, a
checkpoint at every step, and the one GPU Ray gave it (SLURM's fake GPUs, never opened)."""

import os
import time

import raytune_hpo as hpo


def train(config):
    state = hpo.load_checkpoint() or {"step": 0}
    for step in range(state["step"], config["steps"]):
        time.sleep(config["sleep"])
        hpo.report(loss=(config["x"] - 0.3) ** 2 + 1.0 / (step + 1), gpu=int(os.environ["CUDA_VISIBLE_DEVICES"]),
                   checkpoint={"step": step + 1})
