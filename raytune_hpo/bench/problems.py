"""The multi-fidelity test problems of ``raytune-hpo bench optimizers``.

Each problem is a trainable that reports once per iteration, for ``max_t`` iterations: the
fidelity after iteration t is z = t / max_t, and z = 1 is the real objective. Each report
carries ``reported_at`` (the wall clock, which orders the reports of concurrent trials),
``value`` (the metric the optimiser sees, minimised) and ``true_value`` (what the
configuration at that fidelity is really worth: the same number where the problem has no
noise; the expectation for counting-ones). Budget is counted in iterations.

- ``branin``: Branin with a fidelity axis: the truth plus the distance to it of BoTorch's
  ``AugmentedBranin`` (b = 5.1/(4π²) - 0.1 (1 - z)). The augmented function alone is another
  function at low fidelity, with minima as low as Branin's elsewhere: an optimiser would
  "find" the optimum at the first iteration of a poor configuration. Added as a distance, it
  misleads as much and is never better than the truth; 2 floats; minimum 0.397887.
- ``hartmann6``: Hartmann-6 with a fidelity axis, as BoTorch's ``AugmentedHartmann``
  (α₁ = 1 - 0.1 (1 - z): low fidelities are never better than the truth); 6 floats;
  minimum -3.32237.
- ``counting_ones``: Falkner et al. (2018)'s counting-ones, 8 categorical bits and 8 floats in
  [0, 1]; the floats are estimated by the mean of t Bernoulli draws after iteration t (more
  iterations, less noise); minimum -16.
- ``digits``: learning curves of a real model: a one-hidden-layer network on
  ``sklearn.datasets.load_digits`` (lr, momentum, weight decay, width, batch size), one epoch
  per iteration, the validation loss reported; the minimum is not known (regret is measured
  against the best value any run of the benchmark found).

An iteration of ``branin`` and ``hartmann6`` takes microseconds, so trials run through Ray
overlap only as far as Ray's own overhead lets them (a trial's start, a paused trial's resume:
milliseconds): two trials at a time is then nearer one. A space constant
``seconds_per_iteration`` makes each of their iterations take that long, as a training step
would, so that two trials really run side by side.

Two have several objectives, both minimised; their score is the hypervolume of the Pareto front
of the reports so far, against a reference point fixed per problem (``Problem.reference``):

- ``branin_currin``: BoTorch's ``BraninCurrin`` on [0, 1]²: Branin rescaled to its usual
  domain (x1 → 15 x1 - 5, x2 → 15 x2) and Currin's exponential function, each with a fidelity
  axis that is never better than the truth: Branin's as ``branin`` above, Currin's exponential
  term weighted by α(z) = 1 - 0.1 (1 - z) the way ``AugmentedHartmann`` weights its first term
  (so that ``currin(x, z) - currin(x) = 0.1 (1 - z) exp(-1 / (2 x2)) A(x1) / B(x1) >= 0``). At
  full fidelity both are exactly BoTorch's. Reference point BoTorch's ``[18, 6]``; the largest
  hypervolume, 59.36011874867746, is BoTorch's ``_max_hv`` (found with NSGA-II).
- ``digits_size``: the ``digits`` network with 1 to 3 hidden layers: its validation loss against
  its size, log10 of its parameter count (1,210 to 150,794 parameters), one epoch per
  iteration. Reference point ``[ln 10, log10(200,000)]``: a network no better than chance
  (the loss of a uniform guess), or larger than any in the space, adds nothing. The largest
  hypervolume is not known (the gap is measured against the largest any run found).

A trial saves a checkpoint at the rungs of η = 3 brackets (iterations 1, 3, 9, ... below
``max_t``), the only iterations where the benchmark's schedulers pause a trial: a paused trial
goes on from there, and the other reports cost no checkpoint.

All are deterministic given the configuration (counting-ones draws from a generator seeded by
it; digits trains with torch seeded by it), so a configuration costs the same and reports the
same whichever optimiser proposes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import raytune_hpo as hpo

MAX_T = 27


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict
    trainable: Callable[[dict], None]
    # The best value, or with several objectives the largest hypervolume; None: unknown
    # (regret against the best any run found).
    optimum: float | None
    objectives: tuple[str, ...] = ("value",)  # the metrics minimised
    reference: tuple[float, ...] | None = None  # the hypervolume's, for several objectives

    @property
    def several(self) -> bool:
        return len(self.objectives) > 1


def _continue_from() -> int:
    """The iterations done before (a paused, resumed or retried trial continues)."""
    state = hpo.load_checkpoint()
    return state["iteration"] if state else 0


def at_rung(t: int, max_t: int) -> bool:
    """Whether iteration ``t`` is a rung of η = 3 brackets below ``max_t``: max_t/3^k, floored."""
    k = 1
    while max_t // 3**k >= 1:
        if t == max_t // 3**k:
            return True
        k += 1
    return False


def _report(t: int, max_t: int, checkpoint: Callable[[], dict], **metrics: float) -> None:
    hpo.report(checkpoint=checkpoint() if at_rung(t, max_t) else None, reported_at=time.time(), **metrics)


def _iteration_state(t: int) -> Callable[[], dict]:
    """The checkpoint of a trial whose whole state is its iteration ``t``."""
    return lambda: {"iteration": t}


def _report_curve(config: dict, value_at: Callable[[float], tuple[float, float]]) -> None:
    max_t = config["max_t"]
    pace = config.get("seconds_per_iteration", 0)
    for t in range(_continue_from() + 1, max_t + 1):
        value, true_value = value_at(t / max_t)
        time.sleep(pace)
        _report(t, max_t, _iteration_state(t), value=value, true_value=true_value)


# -- Branin ------------------------------------------------------------------------------------


def augmented_branin(x1: float, x2: float, z: float = 1.0) -> float:
    b = 5.1 / (4 * math.pi**2) - 0.1 * (1 - z)
    c, r, s, t = 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def branin(x1: float, x2: float, z: float = 1.0) -> float:
    truth = augmented_branin(x1, x2)
    return truth + abs(augmented_branin(x1, x2, z) - truth)


def branin_trial(config: dict) -> None:
    def value_at(z):
        v = branin(config["x1"], config["x2"], z)
        return v, v

    _report_curve(config, value_at)


# -- Branin-Currin -----------------------------------------------------------------------------


def currin(x1: float, x2: float, z: float = 1.0) -> float:
    """Currin's exponential function on [0, 1]², its exponential term weighted by
    1 - 0.1 (1 - z): never below the truth (z = 1)."""
    weight = 1 - 0.1 * (1 - z)
    term = 0.0 if x2 == 0 else math.exp(-1 / (2 * x2))  # exp(-inf) at x2 = 0, as torch has it
    return (
        (1 - weight * term) * (2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60) / (100 * x1**3 + 500 * x1**2 + 4 * x1 + 20)
    )


def branin_currin(x1: float, x2: float, z: float = 1.0) -> tuple[float, float]:
    """BoTorch's ``BraninCurrin`` at fidelity ``z``: (Branin rescaled, Currin)."""
    return branin(15 * x1 - 5, 15 * x2, z), currin(x1, x2, z)


def branin_currin_trial(config: dict) -> None:
    max_t = config["max_t"]
    for t in range(_continue_from() + 1, max_t + 1):
        b, c = branin_currin(config["x1"], config["x2"], t / max_t)
        _report(t, max_t, _iteration_state(t), branin=b, currin=c)


# -- Hartmann-6 --------------------------------------------------------------------------------

_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(x: np.ndarray, z: float = 1.0) -> float:
    alpha = _ALPHA.copy()
    alpha[0] -= 0.1 * (1 - z)
    return float(-np.sum(alpha * np.exp(-np.sum(_A * (np.asarray(x) - _P) ** 2, axis=1))))


def hartmann6_trial(config: dict) -> None:
    x = np.array([config[f"x{i}"] for i in range(1, 7)])

    def value_at(z):
        v = hartmann6(x, z)
        return v, v

    _report_curve(config, value_at)


# -- counting ones -----------------------------------------------------------------------------

_ONES = 8  # categorical bits, and as many floats


def _config_seed(config: dict) -> int:
    text = json.dumps({k: v for k, v in config.items() if k != "max_t"}, sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def counting_ones_trial(config: dict) -> None:
    bits = sum(config[f"b{i}"] for i in range(_ONES))
    probabilities = np.array([config[f"p{i}"] for i in range(_ONES)])
    true_value = -(bits + float(probabilities.sum()))
    max_t = config["max_t"]
    # One draw per float per iteration, all made up front so that a resumed trial sees the
    # same draws as one that ran through.
    draws = np.random.default_rng(_config_seed(config)).random((max_t, _ONES)) < probabilities
    done = _continue_from()
    for t in range(done + 1, max_t + 1):
        estimate = draws[:t].mean(axis=0).sum()
        _report(t, max_t, _iteration_state(t), value=-(bits + float(estimate)), true_value=true_value)


# -- digits ------------------------------------------------------------------------------------


def digits_trial(config: dict) -> None:
    _train_digits(config, lambda loss, n_params: {"value": loss, "true_value": loss})


def digits_size_trial(config: dict) -> None:
    _train_digits(
        config,
        lambda loss, n_params: {"val_loss": loss, "n_params": n_params, "log10_params": math.log10(n_params)},
    )


def _train_digits(config: dict, metrics: Callable[[float, int], dict[str, float]]) -> None:
    """The digits network (``config["depth"]`` hidden layers, 1 by default), one epoch per
    iteration; each report holds ``metrics(validation loss, parameter count)``."""
    import torch
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, valid = order[:1200], order[1200:]
    torch.manual_seed(_config_seed(config) % 2**31)
    width = config["width"]
    hidden = [torch.nn.Linear(64, width), torch.nn.ReLU()]
    for _ in range(config.get("depth", 1) - 1):
        hidden += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    model = torch.nn.Sequential(*hidden, torch.nn.Linear(width, 10))
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config["lr"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
    )
    state = hpo.load_checkpoint()
    start = 0
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start = state["iteration"]
    loss = torch.nn.functional.cross_entropy
    for t in range(start + 1, config["max_t"] + 1):
        model.train()
        for batch in train[torch.randperm(len(train))].split(config["batch_size"]):
            optimizer.zero_grad()
            loss(model(x[batch]), y[batch]).backward()
            optimizer.step()
        with torch.no_grad():
            value = loss(model(x[valid]), y[valid]).item()
        if not math.isfinite(value):
            value = math.log(10) * 10  # diverged: worse than any trained model, still a number

        def checkpoint(t: int = t) -> dict:
            return {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(),
                "iteration": t,
            }

        _report(t, config["max_t"], checkpoint, **metrics(value, n_params))


# -- the suite ---------------------------------------------------------------------------------


def _space(params: dict[str, Any], max_t: int) -> dict:
    return {**params, "max_t": max_t}


def problems(max_t: int = MAX_T) -> dict[str, Problem]:
    """Every problem, those with one objective first."""
    return {**_one_objective(max_t), **_several_objectives(max_t)}


def _one_objective(max_t: int) -> dict[str, Problem]:
    return {
        "branin": Problem(
            "branin",
            _space({"x1": hpo.uniform(-5.0, 10.0), "x2": hpo.uniform(0.0, 15.0)}, max_t),
            branin_trial,
            0.397887,
        ),
        "hartmann6": Problem(
            "hartmann6",
            _space({f"x{i}": hpo.uniform(0.0, 1.0) for i in range(1, 7)}, max_t),
            hartmann6_trial,
            -3.32237,
        ),
        "counting_ones": Problem(
            "counting_ones",
            _space(
                {
                    **{f"b{i}": hpo.choice([0, 1]) for i in range(_ONES)},
                    **{f"p{i}": hpo.uniform(0.0, 1.0) for i in range(_ONES)},
                },
                max_t,
            ),
            counting_ones_trial,
            -2.0 * _ONES,
        ),
        "digits": Problem("digits", _space(_digits_space(), max_t), digits_trial, None),
    }


def _digits_space() -> dict[str, Any]:
    return {
        "lr": hpo.loguniform(1e-3, 1.0),
        "momentum": hpo.uniform(0.0, 0.99),
        "weight_decay": hpo.loguniform(1e-6, 1e-1),
        "width": hpo.choice([16, 32, 64, 128, 256]),
        "batch_size": hpo.choice([16, 32, 64, 128, 256]),
    }


def _several_objectives(max_t: int) -> dict[str, Problem]:
    return {
        "branin_currin": Problem(
            "branin_currin",
            _space({"x1": hpo.uniform(0.0, 1.0), "x2": hpo.uniform(0.0, 1.0)}, max_t),
            branin_currin_trial,
            59.36011874867746,
            objectives=("branin", "currin"),
            reference=(18.0, 6.0),
        ),
        "digits_size": Problem(
            "digits_size",
            _space({**_digits_space(), "depth": hpo.randint(1, 4)}, max_t),
            digits_size_trial,
            None,
            objectives=("val_loss", "log10_params"),
            reference=(math.log(10), math.log10(200_000)),
        ),
    }


# -- how much a low fidelity tells --------------------------------------------------------------


def shares_beating(problem: Problem, target: float, iterations: tuple[int, ...], configs: int, seed: int = 0):
    """The share of ``configs`` random configurations (drawn uniformly from the problem's space,
    ConfigSpace's sampler seeded with ``seed``) whose value after each of ``iterations`` is as
    good as ``target`` (one objective, minimised): how likely a trial stopped there is to show
    the target.

    >>> shares_beating(problems()["hartmann6"], -3.0, (1, 27), configs=50)
    {1: 0.0, 27: 0.0}
    """
    from raytune_hpo.searchers._bohb import to_configspace
    from raytune_hpo.space import Space
    from raytune_hpo.trainable import LocalTrial

    space = Space(problem.space)
    beating = dict.fromkeys(iterations, 0)
    for sample in to_configspace(space, seed=seed).sample_configuration(configs):
        with LocalTrial() as trial:
            problem.trainable(space.complete(dict(sample)))
        for t in iterations:
            beating[t] += trial.reports[t - 1]["value"] <= target
    return {t: n / configs for t, n in beating.items()}
