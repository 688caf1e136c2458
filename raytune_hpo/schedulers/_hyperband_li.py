"""``hyperband``: Hyperband as Li et al. (2018) define it, Algorithm 1, with R = ``max_t``
and η = ``reduction_factor``:

    s_max = floor(log_η R),  B = (s_max + 1) R
    for s in s_max, ..., 0:
        n = ceil(B/R · η^s / (s + 1)),  r = R η^-s
        n configurations; for i in 0..s: n_i = floor(n η^-i) run r_i = r η^i, the top
        floor(n_i / η) go on

:func:`hyperband_brackets` computes those brackets; the scheduler runs them, each as
synchronous successive halving (``_sha``), interleaved (see :class:`SynchronousHalving`).

The bracket sizes follow Algorithm 1 as printed, ``ceil(B/R · η^s/(s+1))``. The paper's
Table 1 (R = 81, η = 3) lists 27, 9 and 6 configurations for s = 3, 2, 1 where Algorithm 1
gives 34, 15 and 8: the table was computed with integer division, floor(B/R/(s+1)) · η^s.
Algorithm 1 is the definition, and it keeps the property the paper builds Hyperband on: every
bracket spends about the same budget B (n is rounded up: the first of its s + 1 rounds spends
at least B/(s+1)). Integer division rounds the share down before multiplying by η^s: for
R = 81, η = 3 (B = 405) the rounds of brackets s = 3, 2, 1 spend 363, 351 and 378 in all with
Algorithm 1, 324, 243 and 324 (80 %, 60 %, 80 % of B) with Table 1's sizes.

Ray's ``HyperBandScheduler`` is another algorithm (brackets of n0 = ceil(s_max_1/(s+1) · η^s)
filled smallest-first as trials arrive, rounding n up at each halving): it stays available as
``hyperband_async``.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any

from raytune_hpo.errors import ConfigError
from raytune_hpo.schedulers._common import SchedulerRequest


def hyperband_brackets(R: float, eta: float = 3) -> dict[int, list[tuple[int, int | float]]]:
    """Hyperband's brackets (Li et al. 2018, Algorithm 1) for a maximum resource ``R`` per
    configuration and a reduction factor ``eta``: for every bracket s from s_max down to 0,
    the (n_i, r_i) pairs of its rounds of successive halving — n_i configurations run with
    r_i resource each. r_i is an ``int`` where it is whole, else a ``float``.

    >>> hyperband_brackets(81, 3)[4]
    [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]
    >>> hyperband_brackets(81, 3)[3]      # Table 1 lists 27 configurations (integer division)
    [(34, 3), (11, 9), (3, 27), (1, 81)]
    >>> hyperband_brackets(9, 3)
    {2: [(9, 1), (3, 3), (1, 9)], 1: [(5, 3), (1, 9)], 0: [(3, 9)]}
    """
    for name, value, low in (("R", R, 1), ("eta", eta, None)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"hyperband_brackets: {name} must be a number, got {value!r}")
    if R < 1:
        raise ConfigError(f"hyperband_brackets: R must be >= 1, got {R!r}")
    if eta <= 1:
        raise ConfigError(f"hyperband_brackets: eta must be > 1, got {eta!r}")
    R_, eta_ = Fraction(R), Fraction(eta)
    s_max = 0
    while eta_ ** (s_max + 1) <= R_:  # floor(log_eta R), exactly
        s_max += 1
    brackets = {}
    for s in range(s_max, -1, -1):
        n = math.ceil(Fraction(s_max + 1) * eta_**s / (s + 1))  # ceil(B/R · η^s/(s+1))
        r = R_ / eta_**s
        brackets[s] = [(math.floor(n / eta_**i), _number(r * eta_**i)) for i in range(s + 1)]
    return brackets


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def _hyperband_options(reduction_factor: float = 3) -> None:
    """The options of ``hyperband`` (checked by name)."""


def hyperband_plans(max_t: int, eta: float) -> list[list[tuple[int, int]]]:
    """The brackets in the order they run, r_i in whole iterations: rounded down, which
    keeps every r_i >= 1 (η^s <= R) and the rungs of a bracket distinct (η >= 2)."""
    return [
        [(n, math.floor(r)) for n, r in pairs]
        for pairs in hyperband_brackets(max_t, eta).values()
    ]


def build_hyperband(request: SchedulerRequest):
    from raytune_hpo.schedulers._sha import SynchronousHalving, check_halving  # imports Ray

    options = request.library_options(_hyperband_options, defaults={"reduction_factor": 3})
    eta = options["reduction_factor"]
    max_t = check_halving(request, eta)
    plans = hyperband_plans(max_t, eta)
    return SynchronousHalving(lambda trials: plans, eta, "Hyperband (Li et al. 2018)")


def describe(max_t: int, eta: Any) -> list[str]:
    """One line per bracket, as the scheduler runs them (``raytune-hpo run --dry-run``)."""
    return [
        f"Hyperband bracket s={s}: trials x iterations "
        + " -> ".join(f"{n} x {math.floor(r)}" for n, r in pairs)
        for s, pairs in hyperband_brackets(max_t, eta).items()
    ]
