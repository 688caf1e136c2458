"""Multi-fidelity test problems with known optima: fast, deterministic stand-ins for training
runs, for trying searchers and schedulers with hundreds of trials (a 27-iteration trial
computes for a few milliseconds at most; plain Python and NumPy, no torch).

Each trial runs ``config["iterations"]`` iterations (T); iteration t (1..T) evaluates the
problem at fidelity z = t/T and reports ``loss`` (the value at that fidelity, to minimise) and
``regret`` (the configuration's true loss, at full fidelity and without noise, minus the
problem's optimum: what an analysis of the search wants, never what the searcher sees). The
last iteration (z = 1) is the true problem. The checkpoint is ``{"iteration": t}``; a resumed
or exploiting trial goes on from t + 1 (the problems have no other state).

- ``branin``: Branin on x1 in [-5, 10], x2 in [0, 15], minimum 0.397887 at (-pi, 12.275),
  (pi, 2.275) and (9.42478, 2.475). Fidelity as in Kandasamy et al. 2017 ("Multi-fidelity
  Bayesian optimisation with continuous approximations", BOCA), with its three fidelity
  coordinates tied to one z: b(z) = b - 0.01 (1 - z), c(z) = c - 0.1 (1 - z),
  t(z) = t + 0.005 (1 - z) (the constants of the authors' Dragonfly implementation).
- ``hartmann6``: Hartmann-6 on [0, 1]^6, minimum -3.32237 at (0.20169, 0.150011, 0.476874,
  0.275332, 0.311652, 0.6573). Fidelity as in Kandasamy et al. 2017 again: every
  alpha_i is lowered by 0.1 (1 - z), so low fidelities are flatter and their values higher.
- ``counting_ones``: Falkner et al. 2018 (BOHB), N categorical parameters in {0, 1} and N
  continuous ones in [0, 1]; at budget b each continuous x_i is estimated by the mean of b
  Bernoulli(x_i) samples, and the loss is -(sum of categoricals + sum of estimates) / (2N),
  minimum -1 at all ones. The budget at fidelity z is ceil(729 z) samples (BOHB's largest
  budget is 729). The samples are drawn from a generator seeded by the configuration's
  values (and ``config.get("seed", 0)``), the first b of them shared by every budget, so a
  trial, and any iteration of it, is reproducible.
"""

from __future__ import annotations

import hashlib
import math
from typing import Sequence

import numpy as np

import raytune_hpo as hpo

BRANIN_OPTIMUM = 0.397887
BRANIN_MINIMIZERS = ((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475))

HARTMANN6_OPTIMUM = -3.32237
HARTMANN6_MINIMIZER = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)

COUNTING_ONES_OPTIMUM = -1.0
COUNTING_ONES_N = 8  # categorical and as many continuous: 16 dimensions, as in the BOHB paper
COUNTING_ONES_MAX_BUDGET = 729

OPTIMA = {
    "branin": BRANIN_OPTIMUM,
    "hartmann6": HARTMANN6_OPTIMUM,
    "counting_ones": COUNTING_ONES_OPTIMUM,
}

_HARTMANN6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN6_A = np.array([
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
])
_HARTMANN6_P = 1e-4 * np.array([
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
])


def branin(x1: float, x2: float, fidelity: float = 1.0) -> float:
    """Branin at (x1, x2) seen at ``fidelity`` z in [0, 1]; z = 1 is the standard function."""
    gap = 1.0 - fidelity
    b = 5.1 / (4 * math.pi**2) - 0.01 * gap
    c = 5 / math.pi - 0.1 * gap
    t = 1 / (8 * math.pi) + 0.005 * gap
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x: Sequence[float], fidelity: float = 1.0) -> float:
    """Hartmann-6 at ``x`` (six values in [0, 1]) seen at ``fidelity`` z in [0, 1]."""
    alpha = _HARTMANN6_ALPHA - 0.1 * (1.0 - fidelity)
    inner = (_HARTMANN6_A * (np.asarray(x, dtype=float) - _HARTMANN6_P) ** 2).sum(axis=1)
    return float(-(alpha * np.exp(-inner)).sum())


def counting_ones_budget(fidelity: float) -> int:
    """Bernoulli samples per continuous parameter at ``fidelity`` (at least one)."""
    # The small tolerance keeps e.g. 27 * (1/27) from rounding up to 28 samples.
    return max(1, math.ceil(COUNTING_ONES_MAX_BUDGET * fidelity - 1e-9))


def counting_ones(
    categorical: Sequence[int], continuous: Sequence[float], budget: int | None, seed: int = 0
) -> float:
    """The counting-ones loss, in [-1, 0]; ``budget`` samples estimate each continuous value,
    ``None`` gives the expectation (the true loss)."""
    x = np.asarray(continuous, dtype=float)
    if budget is None:
        estimates = x
    else:
        # Generator.random fills row by row: the first b rows are the same for every budget,
        # so a larger budget refines a smaller one's estimate instead of redrawing it.
        draws = np.random.default_rng(seed).random((budget, len(x)))
        estimates = (draws < x).mean(axis=0)
    return -(float(np.sum(categorical)) + float(estimates.sum())) / (len(categorical) + len(x))


def counting_ones_seed(categorical: Sequence[int], continuous: Sequence[float], seed: int = 0) -> int:
    """A seed from the configuration's values: the same configuration, the same samples (repr
    of a float is exact; Python's own hash() of a tuple differs between processes)."""
    text = repr((tuple(int(c) for c in categorical), tuple(float(v) for v in continuous), seed))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def counting_ones_space(n: int = COUNTING_ONES_N) -> dict:
    """``n`` categorical parameters ``cat0``... and ``n`` continuous ones ``cont0``..."""
    space: dict = {"problem": "counting_ones", "iterations": 27, "checkpoint_every": 1, "n": n}
    space.update({f"cat{i}": hpo.choice([0, 1]) for i in range(n)})
    space.update({f"cont{i}": hpo.uniform(0.0, 1.0) for i in range(n)})
    return space


# "iterations": 27 is one Hyperband bracket of 1, 3, 9, 27 with reduction factor 3.
# "checkpoint_every": a checkpoint costs a file write and a copy into the trial's storage,
# far more than an iteration here; 0 saves none (fine for ASHA, which only stops trials;
# PBT and pausing schedulers (HyperBand, BOHB) need them).
SPACES = {
    "branin": {
        "problem": "branin",
        "x1": hpo.uniform(-5.0, 10.0),
        "x2": hpo.uniform(0.0, 15.0),
        "iterations": 27,
        "checkpoint_every": 1,
    },
    "hartmann6": {
        "problem": "hartmann6",
        **{f"x{i}": hpo.uniform(0.0, 1.0) for i in range(1, 7)},
        "iterations": 27,
        "checkpoint_every": 1,
    },
    "counting_ones": counting_ones_space(),
}
SPACE = SPACES["branin"]  # the module's default, as the other experiments have one SPACE


def value(config: dict, fidelity: float) -> float:
    """The loss of ``config`` (with its ``problem``) at ``fidelity`` in (0, 1]."""
    problem = config["problem"]
    if problem == "branin":
        return branin(config["x1"], config["x2"], fidelity)
    if problem == "hartmann6":
        return hartmann6([config[f"x{i}"] for i in range(1, 7)], fidelity)
    if problem == "counting_ones":
        cat, cont = _counting_ones_values(config)
        seed = counting_ones_seed(cat, cont, config.get("seed", 0))
        return counting_ones(cat, cont, counting_ones_budget(fidelity), seed)
    raise ValueError(f"problem must be one of {sorted(OPTIMA)}, got {problem!r}")


def true_value(config: dict) -> float:
    """The loss of ``config`` at full fidelity and without sampling noise."""
    if config["problem"] == "counting_ones":
        return counting_ones(*_counting_ones_values(config), budget=None)
    return value(config, 1.0)


def _counting_ones_values(config: dict) -> tuple[list[int], list[float]]:
    n = config.get("n", COUNTING_ONES_N)
    return [config[f"cat{i}"] for i in range(n)], [config[f"cont{i}"] for i in range(n)]


def train(config: dict) -> None:
    iterations = config["iterations"]
    every = config.get("checkpoint_every", 1)
    regret = true_value(config) - OPTIMA[config["problem"]]  # the same at every iteration
    start = 1
    state = hpo.load_checkpoint()
    if state is not None:
        start = state["iteration"] + 1
    for t in range(start, iterations + 1):
        loss = value(config, t / iterations)
        # The last iteration always saves one: a resumed finished trial has nothing left to do.
        save = every > 0 and (t % every == 0 or t == iterations)
        hpo.report(loss=loss, regret=regret, checkpoint={"iteration": t} if save else None)
