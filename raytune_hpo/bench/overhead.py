"""``raytune-hpo bench overhead``: the same short trials through plain Ray Tune with its
defaults, plain Ray Tune with ``reuse_actors=True``, and ``hpo.run`` with its defaults, in one
process on one Ray instance; trials per second, ratios, and the driver's peak memory."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Row:
    setting: str
    trials: int
    seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.trials / self.seconds


class PeakRSS:
    """The driver's peak resident memory while the block runs, sampled every 20 ms."""

    def __enter__(self):
        import psutil

        self._process, self._stop, self.peak = psutil.Process(), threading.Event(), 0
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def plain_trial(config: dict) -> None:
    from ray import tune

    if config["seconds"]:
        time.sleep(config["seconds"])
    tune.report({"loss": config["x"]})


def hpo_trial(config: dict) -> None:
    import raytune_hpo as hpo

    if config["seconds"]:
        time.sleep(config["seconds"])
    hpo.report(loss=config["x"])


def run_plain(storage: str, name: str, trials: int, trial_seconds: float, reuse_actors: bool | None) -> None:
    """The trials through plain Ray Tune (``reuse_actors=None``: its default)."""
    from ray import tune

    tune.Tuner(
        plain_trial,
        param_space={"x": tune.uniform(0, 1), "seconds": trial_seconds},
        tune_config=tune.TuneConfig(num_samples=trials, reuse_actors=reuse_actors),
        run_config=tune.RunConfig(storage_path=storage, name=name, verbose=0),
    ).fit()


def run_ours(storage: str, name: str, trials: int, trial_seconds: float) -> None:
    """The same trials through ``hpo.run`` with its defaults."""
    import raytune_hpo as hpo

    hpo.run(hpo_trial, {"x": hpo.uniform(0, 1), "seconds": trial_seconds}, metric="loss",
            num_samples=trials, storage=storage, name=name, verbose=0)


def measure(setting: str, trials: int, run: Callable[[], None]) -> Row:
    with PeakRSS() as memory:
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
    return Row(setting, trials, seconds, memory.peak / 2**20)


def overhead(trials: int = 60, trial_seconds: float = 0.0) -> list[Row]:
    import ray

    from raytune_hpo.runner import init_ray

    if not ray.is_initialized():
        init_ray()
    storage = tempfile.mkdtemp(prefix="hpo-bench-")
    rows = []
    for setting, name, reuse in (("Ray Tune defaults", "ray-defaults", None),
                                 ("Ray Tune reuse_actors=True", "ray-reuse", True)):
        rows.append(measure(setting, trials, lambda: run_plain(storage, name, trials, trial_seconds, reuse)))
    rows.append(measure("raytune-hpo defaults", trials,
                        lambda: run_ours(storage, "raytune-hpo", trials, trial_seconds)))
    return rows


def table(rows: list[Row], trial_seconds: float) -> str:
    anchor, reuse = rows[0], rows[1]
    lines = [
        f"{rows[0].trials} trials of {trial_seconds:g} s each, {os.cpu_count()} CPUs",
        f"{'setting':<28} {'trials/s':>9} {'vs defaults':>12} {'vs reuse':>9} {'peak RSS MB':>12}",
    ]
    for r in rows:
        lines.append(
            f"{r.setting:<28} {r.rate:>9.2f} {r.rate / anchor.rate:>11.1f}x {r.rate / reuse.rate:>8.2f}x "
            f"{r.peak_rss_mb:>12.0f}"
        )
    return "\n".join(lines)
