"""``raytune-hpo bench suggest``: what a searcher itself costs. Each model-based searcher is
driven in-process (no Ray) on a 6-parameter function, one trial at a time, and the median time
of ``suggest`` is taken around trial 10 and trial 500."""

from __future__ import annotations

import math
import statistics
import time

import raytune_hpo as hpo
from raytune_hpo.searchers import SearcherRequest, get_searcher
from raytune_hpo.space import Space

SPACE = {
    "lr": hpo.loguniform(1e-5, 1e-1),
    "momentum": hpo.uniform(0.0, 0.99),
    "dropout": hpo.quniform(0.0, 0.5, 0.05),
    "layers": hpo.randint(1, 9),
    "width": hpo.choice([32, 64, 128, 256]),
    "decay": hpo.loguniform(1e-6, 1e-2),
}


def objective(c: dict) -> float:
    return (
        (math.log10(c["lr"]) + 3) ** 2
        + (c["momentum"] - 0.9) ** 2
        + c["dropout"]
        + abs(c["layers"] - 4) / 4
        + (c["width"] != 128)
        + (math.log10(c["decay"]) + 4) ** 2 / 4
    )


def suggest_times(searcher: str, trials: int, seed: int = 0) -> list[float]:
    """Seconds taken by each ``suggest``, trial by trial."""
    algorithm, _ = get_searcher(searcher).build(SearcherRequest(searcher, Space(SPACE), "loss", "min", seed=seed))
    times = []
    for i in range(trials):
        start = time.perf_counter()
        config = algorithm.suggest(str(i))
        times.append(time.perf_counter() - start)
        result = {"loss": objective(config), "training_iteration": 1, "hyperband_info": {"budget": 1}}
        algorithm.on_trial_result(str(i), result)
        algorithm.on_trial_complete(str(i), result)
    return times


def suggest(searchers: tuple[str, ...] = ("hyperopt", "tpe", "bohb"), trials: int = 500) -> list[tuple]:
    """(searcher, median ms of suggest at trials 6..15, median ms at the last 10 trials)."""
    rows = []
    for name in searchers:
        times = suggest_times(name, trials)
        rows.append((name, 1000 * statistics.median(times[5:15]), 1000 * statistics.median(times[-10:])))
    return rows


def table(rows: list[tuple], trials: int) -> str:
    lines = [f"{'searcher':<10} {'suggest at trial 10 (ms)':>25} {f'at trial {trials} (ms)':>20}"]
    lines += [f"{name:<10} {early:>25.2f} {late:>20.2f}" for name, early, late in rows]
    return "\n".join(lines)
