"""The arithmetic of successive halving, Ray-free: the rungs of ``sha`` and ``asha``, the
brackets of ``hyperband`` (Li et al. 2018, Algorithm 1) and of ``hyperband_async`` (Ray's),
and which bracket a trial joins. The schedulers (``_sha``, ``_hyperband``), the DEHB searcher,
the dry run's budget (:func:`describe`) and the report share it.

``hyperband`` is Algorithm 1 with R = ``max_t`` and η = ``reduction_factor``:

    s_max = floor(log_η R),  B = (s_max + 1) R
    for s in s_max, ..., 0:
        n = ceil(B/R · η^s / (s + 1)),  r = R η^-s
        n configurations; for i in 0..s: n_i = floor(n η^-i) run r_i = r η^i, the top
        floor(n_i / η) go on

The bracket sizes follow Algorithm 1 as printed, ``ceil(B/R · η^s/(s+1))``. The paper's
Table 1 (R = 81, η = 3) lists 27, 9 and 6 configurations for s = 3, 2, 1 where Algorithm 1
gives 34, 15 and 8: the table was computed with integer division, floor(B/R/(s+1)) · η^s.
Algorithm 1 is the definition, and it keeps the property the paper builds Hyperband on: every
bracket spends about the same budget B (n is rounded up: the first of its s + 1 rounds spends
at least B/(s+1)). Integer division rounds the share down before multiplying by η^s: for
R = 81, η = 3 (B = 405) the rounds of brackets s = 3, 2, 1 spend 363, 351 and 378 in all with
Algorithm 1, 324, 243 and 324 (80 %, 60 %, 80 % of B) with Table 1's sizes.

Ray's ``HyperBandScheduler`` is another algorithm (brackets of n0 = ceil(s_max_1/(s+1) · η^s)
filled smallest-first as trials arrive, rounding n up at each halving): ``hyperband_async``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from raytune_hpo._contract import Plan
from raytune_hpo._options import is_number
from raytune_hpo.errors import ConfigError


def shrink(n: int, eta: float, i: int) -> int:
    """floor(n / eta^i), exactly (no float rounding for integer or decimal eta)."""
    return math.floor(Fraction(n) / Fraction(eta) ** i)


def sha_rungs(n: int, grace_period: int, reduction_factor: float, max_t: int) -> list[tuple[int, int]]:
    """The (n_i, r_i) rungs of synchronous successive halving of ``n`` trials: r_i =
    floor(grace_period × reduction_factor^i) while below ``max_t``, then ``max_t``; n_i =
    floor(n / reduction_factor^i), at least 1.

    >>> sha_rungs(27, 1, 3, 9)
    [(27, 1), (9, 3), (3, 9)]
    >>> sha_rungs(27, 1, 3, 10)
    [(27, 1), (9, 3), (3, 9), (1, 10)]
    """
    rungs, i = [], 0
    while (r := math.floor(grace_period * Fraction(reduction_factor) ** i)) < max_t:
        rungs.append(r)
        i += 1
    rungs.append(max_t)
    return [(max(1, shrink(n, reduction_factor, i)), r) for i, r in enumerate(rungs)]


def asha_rungs(grace_period: float, reduction_factor: float, max_t: int) -> list[float]:
    """The iterations of ASHA's rungs below ``max_t``: grace_period × reduction_factor^i.

    >>> asha_rungs(1, 3, 20)
    [1, 3, 9]
    """
    rungs, r = [], grace_period
    while r < max_t:
        rungs.append(r)
        r *= reduction_factor
    return rungs


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
    for name, value in (("R", R), ("eta", eta)):
        if not is_number(value):
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


def hyperband_plans(max_t: int, eta: float) -> list[list[tuple[int, int]]]:
    """The brackets in the order they run, r_i in whole iterations: rounded down, which
    keeps every r_i >= 1 (η^s <= R) and the rungs of a bracket distinct (η >= 2)."""
    return [[(n, math.floor(r)) for n, r in pairs] for pairs in hyperband_brackets(max_t, eta).values()]


def hyperband_async_brackets(max_t: int, eta: float) -> dict[int, list[tuple[int, float]]]:
    """The brackets of Ray's ``HyperBandScheduler`` (``hyperband_async``): (trials, iterations)
    per round, n0 = ceil((s_max + 1)/(s + 1) · η^s), s_max = floor(log_η max_t).

    >>> hyperband_async_brackets(9, 3)[1]
    [(5, 3.0), (1, 9.0)]
    """
    s_max = int(math.log(max_t) / math.log(eta) + 1e-9)
    brackets = {}
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s)
        r = max_t * eta ** (-s)
        brackets[s] = [(math.floor(n * eta**-i), r * eta**i) for i in range(s + 1)]
    return brackets


def bracket_index(place: int, plans: Sequence[Plan]) -> int:
    """The bracket (0, 1, ...) that the trial in ``place`` (0, 1, ...) joins when the trials
    fill the brackets of ``plans`` in order, round after round.

    >>> bracket_index(9, [[(9, 1), (3, 3)], [(5, 3)]])
    1
    """
    index, start = 0, 0
    while place >= start + (size := plans[index % len(plans)][0][0]):
        start += size
        index += 1
    return index


def describe(rungs: str, settings: Mapping[str, Any], max_t: int | None, trials: int) -> list[str]:
    """The rungs (or brackets) where a scheduler of kind ``rungs`` (a
    :attr:`~raytune_hpo.schedulers.SchedulerInfo.rungs`) stops trials, one line each, from its
    options as built (``settings``): what ``raytune-hpo run --dry-run`` shows."""
    eta = settings.get("reduction_factor", 3)
    if not max_t:
        return []
    if rungs == "asha":
        at = asha_rungs(settings["grace_period"], eta, max_t)
        return [
            f"ASHA rungs at iterations {', '.join(str(int(x)) for x in at)}; "
            f"the top 1/{eta:g} of each rung goes on, up to {max_t}"
        ]
    if rungs == "sha":
        plan = sha_rungs(trials, settings["grace_period"], eta, max_t)
        return ["SHA rungs: trials x iterations " + " -> ".join(f"{n} x {r}" for n, r in plan)]
    if rungs == "hyperband":
        return [
            _bracket_line(s, [(n, f"{math.floor(r)}") for n, r in pairs])
            for s, pairs in hyperband_brackets(max_t, eta).items()
        ]
    if rungs == "hyperband_async":
        return [
            _bracket_line(s, [(n, f"{r:g}") for n, r in pairs])
            for s, pairs in hyperband_async_brackets(max_t, eta).items()
        ]
    return []


def _bracket_line(s: int, rounds: list[tuple[int, str]]) -> str:
    return f"Hyperband bracket s={s}: trials x iterations " + " -> ".join(f"{n} x {r}" for n, r in rounds)
