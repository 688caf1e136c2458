"""The method of ``bench overhead`` and ``bench load``: the same trials through each setting,
measured fairly, with the spread of repeats.

- **One child process per measured run**, joined to one Ray cluster that the benchmark starts
  once: a run's driver memory is its own (in one process, the second run would inherit the
  first's heap), and no run pays the cluster's start.
- **Warm-up**: each child first runs a few trials of its setting untimed (imports, Ray's
  worker pool), then the timed run.
- **Alternating order**: repeat k runs the settings in order rotated by k, so that no setting
  always goes first (or last, on a machine that warms up or fills up).
- **Medians with their spread** (min–max) over the repeats.

Each run records when every trial ended (plain Ray Tune: a callback appending the time;
raytune-hpo: the journal's ``end`` events) and the driver's resident memory every 20 ms, for
the throughput of each tenth of the run and the memory at a given trial.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

PLAIN_DEFAULTS = "Ray Tune defaults"
PLAIN_REUSE = "Ray Tune reuse_actors=True"
OURS = "raytune-hpo"
SETTINGS = (PLAIN_DEFAULTS, PLAIN_REUSE, OURS)
SAMPLE_EVERY_S = 0.02


@dataclass
class Run:
    """One measured experiment of ``trials`` trials under ``setting``."""

    setting: str
    repeat: int
    order: int  # its place among the settings of its repeat (0: first)
    trials: int
    trial_seconds: float
    seconds: float
    peak_rss_mb: float
    ended: list[float] = field(default_factory=list)  # seconds from the start at which each trial ended
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds from the start, MB)
    experiment: str = ""  # raytune-hpo's experiment directory

    @property
    def rate(self) -> float:
        return self.trials / self.seconds

    def tenths(self) -> list[float]:
        """Trials per second over each tenth of the trials, in order."""
        times = sorted(self.ended)
        if len(times) < 10:
            return []
        bounds = [0.0] + [times[round(len(times) * k / 10) - 1] for k in range(1, 11)]
        counts = [round(len(times) * k / 10) - round(len(times) * (k - 1) / 10) for k in range(1, 11)]
        return [n / (b - a) if b > a else float("inf") for n, a, b in zip(counts, bounds, bounds[1:])]

    @property
    def flatness(self) -> float | None:
        """Trials per second over the last tenth of the run, as a share of the second tenth's."""
        tenths = self.tenths()
        return tenths[-1] / tenths[1] if tenths else None

    def rss_at_trial(self, k: int) -> float | None:
        """The driver's memory (MB) when its ``k``-th trial ended (the first sample after)."""
        times = sorted(self.ended)
        if len(times) < k:
            return None
        when = times[k - 1]
        after = [mb for t, mb in self.rss if t >= when]
        return after[0] if after else (self.rss[-1][1] if self.rss else None)


def schedule(settings: Sequence[str], repeats: int) -> list[tuple[int, int, str]]:
    """(repeat, place, setting) in the order to run them: each repeat rotates the order by one."""
    return [(k, place, settings[(place + k) % len(settings)]) for k in range(repeats) for place in range(len(settings))]


def measure_all(
    settings: Sequence[str],
    repeats: int,
    trials: int,
    trial_seconds: float = 0.0,
    warmup: int = 20,
    storage: str | None = None,
) -> list[Run]:
    """Every setting ``repeats`` times, in children joined to this process's Ray cluster
    (started here if none runs)."""
    import tempfile

    import ray

    from raytune_hpo._ray.session import init_ray

    if not ray.is_initialized():
        init_ray()
    address = ray.get_runtime_context().gcs_address
    storage = storage or tempfile.mkdtemp(prefix="hpo-bench-")
    return [
        measure_in_child(setting, repeat, place, trials, trial_seconds, warmup, storage, address)
        for repeat, place, setting in schedule(settings, repeats)
    ]


def measure_in_child(
    setting: str, repeat: int, place: int, trials: int, trial_seconds: float, warmup: int, storage: str, address: str
) -> Run:
    command = [
        sys.executable,
        "-m",
        "raytune_hpo.bench._fair",
        setting,
        str(repeat),
        str(place),
        str(trials),
        str(trial_seconds),
        str(warmup),
        storage,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": address, "RAY_AIR_NEW_OUTPUT": "0"}
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"the run of {setting!r} failed (exit status {done.returncode}):\n{tail}")
    return Run(**json.loads(lines[-1]))


class _Memory:
    """The process's resident memory every 20 ms while the block runs, from ``start``."""

    def __init__(self, start: float):
        import psutil

        self._process, self._start = psutil.Process(), start
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _take(self) -> None:
        self.samples.append((time.time() - self._start, self._process.memory_info().rss / 2**20))

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._take()
            self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> _Memory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._take()


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


def run_plain(
    storage: str, name: str, trials: int, trial_seconds: float, reuse_actors: bool | None, callbacks: Sequence = ()
) -> None:
    """The trials through plain Ray Tune (``reuse_actors=None``: its default)."""
    from ray import tune

    # None leaves reuse_actors out, so that Ray's own default applies (TuneConfig types it bool).
    if reuse_actors is None:
        tune_config = tune.TuneConfig(num_samples=trials)
    else:
        tune_config = tune.TuneConfig(num_samples=trials, reuse_actors=reuse_actors)
    tune.Tuner(
        plain_trial,
        param_space={"x": tune.uniform(0, 1), "seconds": trial_seconds},
        tune_config=tune_config,
        run_config=tune.RunConfig(storage_path=storage, name=name, verbose=0, callbacks=list(callbacks)),
    ).fit()


def run_ours(storage: str, name: str, trials: int, trial_seconds: float) -> str:
    """The same trials through ``hpo.run`` with its defaults; its directory."""
    import raytune_hpo as hpo

    return hpo.run(
        hpo_trial,
        {"x": hpo.uniform(0, 1), "seconds": trial_seconds},
        metric="loss",
        num_samples=trials,
        storage=storage,
        name=name,
        verbose=0,
    ).path


def _runner(
    setting: str,
    storage: str,
    name: str,
    trials: int,
    trial_seconds: float,
    ended: list[float],
    start: Callable[[], float],
) -> Callable[[], str]:
    """The run of ``setting``, appending to ``ended`` when each trial ends (plain Ray)."""
    if setting == OURS:
        return lambda: run_ours(storage, name, trials, trial_seconds)
    from ray.tune import Callback

    class Ended(Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            ended.append(time.time() - start())

    reuse = True if setting == PLAIN_REUSE else None

    def plain() -> str:  # plain Ray Tune leaves no experiment of ours: no directory
        run_plain(storage, name, trials, trial_seconds, reuse, [Ended()])
        return ""

    return plain


def _child(setting: str, repeat: int, place: int, trials: int, trial_seconds: float, warmup: int, storage: str) -> Run:
    """In the child process: warm up, then the timed run."""
    from raytune_hpo._ray.session import init_ray
    from raytune_hpo.directory import read_journal

    init_ray(address=os.environ["RAY_ADDRESS"])
    tag = f"{setting.replace(' ', '-').replace('=', '-')}-{repeat}"
    start = [0.0]
    if warmup:
        _runner(setting, storage, f"warmup-{tag}", warmup, trial_seconds, [], lambda: start[0])()
    ended: list[float] = []
    run = _runner(setting, storage, tag, trials, trial_seconds, ended, lambda: start[0])
    start[0] = time.time()
    with _Memory(start[0]) as memory:
        began = time.perf_counter()
        path = run()
        seconds = time.perf_counter() - began
    if path:  # ours: when each trial ended, from its journal
        journal = read_journal(path)
        ended = sorted(r.ended - start[0] for r in journal.trials.values() if r.ended is not None)
    return Run(
        setting,
        repeat,
        place,
        trials,
        trial_seconds,
        seconds,
        max(mb for _, mb in memory.samples),
        ended,
        [(round(t, 3), round(mb, 1)) for t, mb in memory.samples],
        path,
    )


def median_spread(values: Sequence[float | None], digits: int = 1) -> str:
    """``12.3 (11.9–12.8)``: the median, and the least and greatest of the repeats (``None``:
    not measured, left out)."""
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    text = f"{statistics.median(known):.{digits}f}"
    return text if len(known) == 1 else f"{text} ({min(known):.{digits}f}–{max(known):.{digits}f})"


def by_setting(runs: Sequence[Run]) -> dict[str, list[Run]]:
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.setting, []).append(run)
    return grouped


def save(out: str, stem: str, runs: Sequence[Run], text: str) -> str:
    """The raw output of a benchmark in folder ``out``: ``stem.jsonl``, every run (its times
    and memory samples), and ``stem.md``, the table printed, under the date, the machine and the
    command that made them. The path of the table."""
    import platform

    import ray

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{stem}.jsonl"), "w") as f:
        for run in runs:
            f.write(json.dumps(asdict(run)) + "\n")
    header = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M %z')} on {platform.node()}: {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Ray {ray.__version__}.\n\n"
        f"Command: `raytune-hpo {' '.join(sys.argv[1:])}`; every run in `{stem}.jsonl`.\n\n"
    )
    path = os.path.join(out, f"{stem}.md")
    with open(path, "w") as f:
        f.write(header + text + "\n")
    return path


if __name__ == "__main__":
    setting, repeat, place, trials, trial_seconds, warmup, storage = sys.argv[1:8]
    measured = _child(setting, int(repeat), int(place), int(trials), float(trial_seconds), int(warmup), storage)
    print(json.dumps(asdict(measured)), flush=True)
