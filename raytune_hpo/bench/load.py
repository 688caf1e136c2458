"""``raytune-hpo bench load``: one experiment of many trivial trials (2,000 by default), every
trial accounted for afterwards; the wall time and the driver's peak memory, against plain Ray
Tune (``reuse_actors=True``) running the same trials in the same process, the anchor."""

from __future__ import annotations

import tempfile

from raytune_hpo.bench.overhead import Row, measure, run_ours, run_plain


def load(trials: int = 2000) -> tuple[list[Row], list[str]]:
    """The two rows, and what is missing from our experiment (nothing, when it holds)."""
    import ray

    import raytune_hpo as hpo
    from raytune_hpo.runner import init_ray

    if not ray.is_initialized():
        init_ray()
    storage = tempfile.mkdtemp(prefix="hpo-bench-load-")
    rows = [measure("Ray Tune reuse_actors=True", trials, lambda: run_plain(storage, "ray-tune", trials, 0.0, True)),
            measure("raytune-hpo", trials, lambda: run_ours(storage, "raytune-hpo", trials, 0.0))]
    return rows, missing(hpo.load(f"{storage}/raytune-hpo"), trials)


def missing(results, trials: int) -> list[str]:
    """Every way the experiment falls short of ``trials`` trials that each ended after their
    one report with a finite metric, under distinct ids and directories."""
    problems = []
    if len(results.trials) != trials:
        problems.append(f"{len(results.trials)} trials recorded, not {trials}")
    unfinished = [t.trial_id for t in results.trials if t.status != "TERMINATED"]
    if unfinished:
        problems.append(f"{len(unfinished)} trials not TERMINATED, e.g. {unfinished[0]}")
    unreported = [t.trial_id for t in results.trials if len(t.history) != 1]
    if unreported:
        problems.append(f"{len(unreported)} trials without exactly one report, e.g. {unreported[0]}")
    if len({t.trial_id for t in results.trials}) != len(results.trials):
        problems.append("trial ids repeat")
    return problems


def table(rows: list[Row], problems: list[str]) -> str:
    anchor = rows[0]
    lines = [f"{'setting':<28} {'trials':>6} {'seconds':>8} {'trials/s':>9} {'vs Ray':>7} {'peak RSS MB':>12} {'vs Ray':>7}"]
    for r in rows:
        lines.append(
            f"{r.setting:<28} {r.trials:>6} {r.seconds:>8.1f} {r.rate:>9.1f} {r.rate / anchor.rate:>6.2f}x "
            f"{r.peak_rss_mb:>12.0f} {r.peak_rss_mb / anchor.peak_rss_mb:>6.2f}x"
        )
    lines.append("every trial accounted for" if not problems else "MISSING: " + "; ".join(problems))
    return "\n".join(lines)
