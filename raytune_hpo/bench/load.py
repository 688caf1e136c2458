"""``raytune-hpo bench load``: one experiment of many trivial trials (2,000 by default) through
``hpo.run`` and through plain Ray Tune (``reuse_actors=True``), the anchor; every trial of ours
accounted for afterwards. Beside the totals: trials per second over each tenth of the run, the
flatness (the last tenth's rate over the second's), and the driver's memory at trial 1,000 and
at the last trial; and how long reading one of our experiments back takes (``hpo.load`` with its
best configuration, and the command ``raytune-hpo show``, start-up included). The method (a
child process per run, warm-up, alternating order, medians) is :mod:`._fair`'s."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from raytune_hpo.bench._fair import OURS, PLAIN_REUSE, Run, by_setting, measure_all, median_spread
from raytune_hpo.bench.overhead import ratios

MEMORY_AT = 1000  # the trial at which the memory is read first


def load(trials: int = 2000, repeats: int = 3, warmup: int = 10) -> tuple[list[Run], list[str], dict[str, float]]:
    """The runs, what is missing from our experiments (nothing, when it holds), and the
    seconds that reading one back takes."""
    runs = measure_all((PLAIN_REUSE, OURS), repeats, trials, 0.0, warmup)
    problems = [f"repeat {r.repeat}: {p}" for r in runs if r.setting == OURS for p in missing(r.experiment, trials)]
    return runs, problems, reading([r for r in runs if r.setting == OURS][-1].experiment)


def reading(path: str) -> dict[str, float]:
    """Seconds to read the experiment back: ``hpo.load`` and its best configuration, in this
    process; ``raytune-hpo show``, as a command (Python's and the imports' start included)."""
    import raytune_hpo as hpo

    start = time.perf_counter()
    _ = hpo.load(path).best_config
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "raytune_hpo.cli", "show", path], capture_output=True, check=True)
    return {"hpo.load": loaded, "raytune-hpo show": time.perf_counter() - start}


def missing(path: str, trials: int) -> list[str]:
    """Every way the experiment in ``path`` falls short of ``trials`` trials that each started
    once, ended once after their one report, under distinct ids and directories."""
    from raytune_hpo.directory import read_journal

    journal = read_journal(path)
    records = list(journal.trials.values())
    problems = []
    if len(records) != trials:
        problems.append(f"{len(records)} trials recorded, not {trials}")
    for what, wrong in (
        ("not TERMINATED", [r for r in records if r.status != "TERMINATED"]),
        ("without exactly one report", [r for r in records if r.reports != 1]),
        ("started or ended more than once", [r for r in records if r.starts != 1 or r.ends != 1]),
    ):
        if wrong:
            problems.append(f"{len(wrong)} trials {what}, e.g. {wrong[0].trial_id}")
    if journal.dropped:
        problems.append(f"{len(journal.dropped)} trials dropped")
    if len({r.name for r in records}) != len(records):
        problems.append("trial directories repeat")
    return problems


def table(runs: Sequence[Run], problems: Sequence[str], read: dict[str, float] | None = None) -> str:
    groups = by_setting(runs)
    first = runs[0]
    lines = [
        f"{first.trials} trivial trials, {len(groups[first.setting])} repeats (median, and min-max over "
        "the repeats; ratios taken repeat by repeat)",
        f"| setting | seconds | trials/s | vs {PLAIN_REUSE} | driver peak RSS MB | vs {PLAIN_REUSE} | "
        f"RSS at trial {MEMORY_AT:,} | RSS at the last | grown | last tenth / second tenth |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    peaks = {(r.setting, r.repeat): r.peak_rss_mb for r in runs}
    for setting in (PLAIN_REUSE, OURS):
        rows = groups.get(setting, [])
        if not rows:
            continue
        at, last = [r.rss_at_trial(MEMORY_AT) for r in rows], [r.rss_at_trial(r.trials) for r in rows]
        grown = [b - a for a, b in zip(at, last) if a is not None and b is not None]
        peak_ratio = [
            peaks[(setting, r.repeat)] / peaks[(PLAIN_REUSE, r.repeat)]
            for r in rows
            if (PLAIN_REUSE, r.repeat) in peaks
        ]
        lines.append(
            f"| {setting} | {median_spread([r.seconds for r in rows])} | {median_spread([r.rate for r in rows])} | "
            f"{median_spread(ratios(runs, setting, PLAIN_REUSE), 2)}x | "
            f"{median_spread([r.peak_rss_mb for r in rows], 0)} | "
            f"{median_spread(peak_ratio, 2)}x | {median_spread(at, 0)} | {median_spread(last, 0)} | "
            f"{median_spread(grown, 0)} | {median_spread([r.flatness for r in rows], 2)} |"
        )
    lines.append("")
    lines.append("trials/s over each tenth of the run (median over the repeats):")
    for setting in (PLAIN_REUSE, OURS):
        curves = [r.tenths() for r in groups.get(setting, []) if r.tenths()]
        if curves:
            tenths = [statistics.median(column) for column in zip(*curves)]
            lines.append(f"  {setting:<28} " + " ".join(f"{rate:6.1f}" for rate in tenths))
    if read:
        lines.append(
            f"reading the {first.trials:,}-trial experiment back: "
            + ", ".join(f"{what} {seconds:.2f} s" for what, seconds in read.items())
        )
    lines.append("every trial accounted for" if not problems else "MISSING: " + "; ".join(problems))
    return "\n".join(lines)
