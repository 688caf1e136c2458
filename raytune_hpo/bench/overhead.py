"""``raytune-hpo bench overhead``: the same short trials through plain Ray Tune with its
defaults, plain Ray Tune with ``reuse_actors=True``, and ``hpo.run`` with its defaults; trials per
second with their spread over the repeats, the ratios, and the driver's peak memory. The method
(a child process per run, warm-up, alternating order, medians) is :mod:`._fair`'s."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

from raytune_hpo.bench._fair import (
    OURS,
    PLAIN_DEFAULTS,
    PLAIN_REUSE,
    SETTINGS,
    Run,
    by_setting,
    measure_all,
    median_spread,
)


def overhead(trials: int = 40, trial_seconds: float = 0.0, repeats: int = 5, warmup: int = 10) -> list[Run]:
    return measure_all(SETTINGS, repeats, trials, trial_seconds, warmup)


def ratios(runs: Sequence[Run], setting: str, anchor: str) -> list[float]:
    """``setting``'s trials/s over ``anchor``'s, repeat by repeat (the two measured together)."""
    rates = {(r.setting, r.repeat): r.rate for r in runs}
    return [rates[(setting, k)] / rates[(anchor, k)] for (s, k) in rates if s == setting and (anchor, k) in rates]


def table(runs: Sequence[Run]) -> str:
    groups = by_setting(runs)
    first = runs[0]
    repeats = len(groups[first.setting])
    lines = [
        f"{first.trials} trials of {first.trial_seconds:g} s each, {os.cpu_count()} CPUs, {repeats} repeats "
        "(median, and min-max over the repeats; ratios taken repeat by repeat)",
        f"| setting | trials/s | vs {PLAIN_DEFAULTS} | vs {PLAIN_REUSE} | driver peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for setting in (s for s in SETTINGS if s in groups):
        rows = groups[setting]
        lines.append(
            f"| {setting} | {median_spread([r.rate for r in rows])} | "
            f"{median_spread(ratios(runs, setting, PLAIN_DEFAULTS), 2)}x | "
            f"{median_spread(ratios(runs, setting, PLAIN_REUSE), 2)}x | "
            f"{median_spread([r.peak_rss_mb for r in rows], 0)} |"
        )
    if OURS in groups and PLAIN_REUSE in groups:
        ratio = statistics.median(ratios(runs, OURS, PLAIN_REUSE))
        lines.append(
            f"raytune-hpo runs {ratio:.2f}x as many trials per second as plain Ray Tune with reuse_actors=True"
        )
    return "\n".join(lines)
