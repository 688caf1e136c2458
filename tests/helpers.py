"""Helpers shared by the tests: objective functions and their spaces, searchers driven without
Ray, experiment files and the command line, drivers killed and waited for, and what this machine
offers the tests that need more than Python (root, SLURM, Chromium). Fixtures live in the
conftest.py files; test modules import everything else from here, never from conftest.py or from
one another."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import yaml

import raytune_hpo as hpo
from raytune_hpo.space import Integer


def free_cpus(total: float, wait_s: float = 5.0) -> float:
    """The CPUs free now, or as soon as ``total`` are within ``wait_s`` (Ray frees them as it
    removes placement groups)."""
    import time

    import ray

    deadline = time.monotonic() + wait_s
    while (free := ray.available_resources().get("CPU", 0.0)) < total and time.monotonic() < deadline:
        time.sleep(0.1)
    return free


def bowl(config: dict) -> float:
    """A test function with a known optimum, 0 at x=0.7, lr=1e-2, kind="b", n=3."""
    return (
        (config["x"] - 0.7) ** 2
        + (math.log10(config["opt"]["lr"]) + 2) ** 2 / 4
        + (0.0 if config["kind"] == "b" else 0.5)
        + 0.1 * abs(config["n"] - 3)
    )


def multi_fidelity_bowl(config: dict) -> None:
    """``bowl`` seen through training: each iteration's loss is bowl + 1/iteration."""
    import raytune_hpo as hpo

    for t in range(1, config["iterations"] + 1):
        hpo.report(loss=bowl(config) + 1.0 / t)


BOWL_SPACE = {
    "x": hpo.uniform(0.0, 1.0),
    "opt": {"lr": hpo.loguniform(1e-4, 1.0), "name": "sgd"},
    "kind": hpo.choice(["a", "b", "c"]),
    "n": hpo.randint(1, 6),
    "iterations": 9,
}

# Every kind of parameter the searchers take: log and quantized floats and integers, a
# choice, and a nested group with a constant.
EVERY_KIND_SPACE = {
    "x": hpo.uniform(-1.0, 1.0),
    "lr": hpo.loguniform(1e-5, 1e-1),
    "drop": hpo.quniform(0.0, 0.5, 0.1),
    "decay": hpo.qloguniform(1e-4, 1e-1, 1e-4),
    "layers": hpo.randint(1, 5),
    "width": Integer(8, 513, log=True),
    "batch": Integer(16, 257, q=16),
    "act": hpo.choice(["relu", "gelu", "tanh"]),
    "opt": {"name": "sgd", "nesterov": hpo.choice([True, False])},
}


def assert_legal_every_kind(c: dict) -> None:
    """``c`` is a legal configuration of EVERY_KIND_SPACE, each value of its own type."""
    assert type(c["x"]) is float and -1 <= c["x"] <= 1
    assert 1e-5 <= c["lr"] <= 1e-1
    assert c["drop"] in {round(0.1 * k, 1) for k in range(6)}
    assert 1e-4 <= c["decay"] <= 1e-1 and c["decay"] == round(c["decay"], 4)
    assert type(c["layers"]) is int and 1 <= c["layers"] <= 4
    assert type(c["width"]) is int and 8 <= c["width"] <= 512
    assert c["batch"] % 16 == 0 and 16 <= c["batch"] <= 256
    assert c["act"] in ("relu", "gelu", "tanh") and type(c["opt"]["nesterov"]) is bool
    assert c["opt"]["name"] == "sgd"


def build_searcher(name: str, space=BOWL_SPACE, seed: int = 0, mode: str = "min", **options):
    """Searcher ``name`` as ``hpo.run`` builds it, to drive without Ray."""
    from raytune_hpo.searchers import SearcherRequest, get_searcher
    from raytune_hpo.space import Space

    searcher, param_space = get_searcher(name).build(
        SearcherRequest(name, Space(space), "loss", mode, seed=seed, max_concurrent=1, options=options)
    )
    assert param_space == {}
    return searcher


def drive_searcher(searcher, trials: int, start: int = 0, objective=bowl) -> list[dict]:
    """``trials`` one at a time, each reporting ``objective`` once: the configurations."""
    configs = []
    for i in range(start, start + trials):
        config = searcher.suggest(f"t{i}")
        configs.append(config)
        result = {"loss": objective(config), "training_iteration": 1}
        searcher.on_trial_result(f"t{i}", result)
        searcher.on_trial_complete(f"t{i}", result)
    return configs


def kill_driver_after(driver, path: str, finished: int, timeout: float = 120) -> list:
    """SIGKILL the driver process ``driver`` of the experiment in ``path`` once at least
    ``finished`` of its trials are recorded as TERMINATED (or it ended by itself): those trials,
    as read then."""
    import signal
    import time

    from raytune_hpo.errors import ConfigError
    from raytune_hpo.results import load

    done: list = []
    deadline = time.time() + timeout
    while time.time() < deadline and len(done) < finished and driver.poll() is None:
        time.sleep(0.2)
        try:
            done = [t for t in load(path).trials if t.status == "TERMINATED"]
        except ConfigError:  # not begun yet
            continue
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    return done


# An experiment run by a driver script: argv storage, ledger, trials, trials at once. Each trial
# appends its name to the ledger when it starts, and reports 4 epochs of 0.3 s with checkpoints.
KILLED_SCRIPT = """
import sys, time
import raytune_hpo as hpo

def slow(config):
    from ray import tune
    with open(config["ledger"], "a") as ledger:
        ledger.write(tune.get_context().get_trial_name() + "\\n")
    state = hpo.load_checkpoint()
    for epoch in range(0 if state is None else state["epoch"] + 1, 4):
        time.sleep(0.3)
        hpo.report(loss=config["x"] + 1 / (epoch + 1), checkpoint={"epoch": epoch})

hpo.run(slow, {"x": hpo.uniform(0, 1), "ledger": sys.argv[2]}, metric="loss", num_samples=int(sys.argv[3]),
        max_concurrent=int(sys.argv[4]), seed=0, storage=sys.argv[1], name="killed", verbose=0)
"""


def start_killed_script(folder, storage: str, ledger, ray_address: str, trials: int, at_once: int,
                        script: str = KILLED_SCRIPT):
    """``script``'s driver (KILLED_SCRIPT's by default), in a subprocess joined to the test's
    Ray, with arguments storage, ledger, trials, trials at once."""
    import os
    import subprocess
    import sys

    path = folder / "killed.py"
    path.write_text(script)
    return subprocess.Popen([sys.executable, str(path), storage, str(ledger), str(trials), str(at_once)],
                            env={**os.environ, "RAY_ADDRESS": ray_address}, cwd=folder)


def wait_for_ended(path: str, trials: int, timeout: float = 120) -> None:
    """Returns once at least ``trials`` trials of the experiment in ``path`` have ended."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if sum(t.status == "TERMINATED" for t in hpo.load(path).trials) >= trials:
                return
        except hpo.ConfigError:  # not begun yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{trials} trials did not end within {timeout} s")


# A trainable of 3 epochs of 0.3 s with checkpoints, as a module's source.
SLOW = """
import sys, time
import raytune_hpo as hpo

def slow(config):
    state = hpo.load_checkpoint()
    for epoch in range(0 if state is None else state["epoch"] + 1, 3):
        time.sleep(0.3)
        hpo.report(loss=config["x"] + 1 / (epoch + 1), checkpoint={"epoch": epoch})
"""


# A driver of SLOW's trainable: argv storage, name, trials, tracking (JSON); 2 trials at once.
# Stopped by Ctrl-C, it saves its state and exits with 130.
TRACKED_SCRIPT = SLOW + """
import json
try:
    hpo.run(slow, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=int(sys.argv[3]), max_concurrent=2, seed=0,
            storage=sys.argv[1], name=sys.argv[2], verbose=0, tracking=json.loads(sys.argv[4]))
except hpo.Interrupted:
    sys.exit(130)
"""


def start_tracked_script(folder, storage: str, name: str, trials: int, tracking: dict, ray_address: str):
    """TRACKED_SCRIPT's driver, in a subprocess joined to the test's Ray; its output piped."""
    import json
    import os
    import subprocess
    import sys

    path = folder / "tracked.py"
    path.write_text(TRACKED_SCRIPT)
    return subprocess.Popen([sys.executable, str(path), storage, name, str(trials), json.dumps(tracking)], cwd=folder,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "RAY_ADDRESS": ray_address})


# ------------------------------------------------------------------ experiment files, the CLI

# A valid experiment file's fields, for the trainable ``bowl:train`` of BOWL.
GOOD_EXPERIMENT = {
    "name": "exp",
    "trainable": "bowl:train",
    "metric": "loss",
    "mode": "min",
    "searcher": {"name": "tpe", "n_initial_points": 3},
    "scheduler": {"name": "asha", "max_t": 3, "grace_period": 1},
    "num_samples": 4,
    "space": {"x": {"uniform": [0, 1]}, "opt": {"lr": {"loguniform": [1.0e-4, 1.0]}}, "epochs": 3},
    "seed": 0,
}

# The module bowl.py of GOOD_EXPERIMENT's trainable.
BOWL = """
import raytune_hpo as hpo

def train(config):
    for t in range(1, config["epochs"] + 1):
        if config.get("fail"):
            raise ValueError("this trial fails on purpose")
        hpo.report(loss=(config["x"] - 0.5) ** 2 + 1 / t)
"""


def write(folder, data, name="exp.yaml") -> str:
    """``data`` (a dict, or a file's whole text) written to ``folder/name``: the path."""
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(path)


def cli(*args, cwd, env=None):
    """``raytune-hpo ARGS`` in a subprocess: the CompletedProcess, with text stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "raytune_hpo.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **(env or {})})


def with_(**changes):
    """GOOD_EXPERIMENT with these fields changed (None removes one)."""
    data = json.loads(json.dumps(GOOD_EXPERIMENT))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


# ---------------------------------------- what the tests that need more than Python need

SBIN = ("/usr/sbin", "/sbin")  # where Debian puts the daemons, often not on a user's PATH
SLURM_COMMANDS = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "sinfo",
                  "squeue", "scancel")


def search_path() -> str:
    """PATH with /usr/sbin and /sbin added."""
    parts = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(parts + [d for d in SBIN if d not in parts])


def missing_slurm_commands() -> list[str]:
    """The SLURM and MUNGE commands not found on PATH (with /usr/sbin and /sbin)."""
    path = search_path()
    return [c for c in SLURM_COMMANDS if shutil.which(c, path=path) is None]


def chromium() -> str | None:
    """The Chromium executable Playwright drives (Debian's package: /usr/bin/chromium)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


_tmpfs_refusal: list[str | None] = []


def tmpfs_refused() -> str | None:
    """Why this machine does not let the tests mount a tmpfs; None where it does (tried once)."""
    import tempfile

    if not _tmpfs_refusal:
        reason = None
        with tempfile.TemporaryDirectory(prefix="hpo-tmpfs-probe-") as where:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", where],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                subprocess.run(["umount", where], check=True)
            else:
                reason = done.stderr.strip() or f"mount exited with status {done.returncode}"
        _tmpfs_refusal.append(reason)
    return _tmpfs_refusal[0]


def missing(requirement: str) -> str | None:
    """Why the tests marked ``requirement`` (a marker of pyproject.toml: ``slurm``, ``browser``,
    ``root``) cannot run on this machine, and how to give them what they need; None where they
    can."""
    if requirement == "slurm":
        if os.geteuid() != 0:
            return "needs root: the SLURM tests start munged, slurmctld and two slurmd; run the tests as root"
        commands = missing_slurm_commands()
        if commands:
            return (f"needs SLURM and MUNGE ({', '.join(commands)} not found on PATH, /usr/sbin included): "
                    "apt-get install slurm-wlm munge")
        return None
    if requirement == "browser":
        if chromium() is None:
            return "needs Chromium (no chromium on PATH): apt-get install chromium"
        try:
            import playwright  # noqa: F401
        except ImportError:
            return "needs Playwright to drive Chromium: pip install -e '.[test]'"
        return None
    if requirement == "root":
        if os.geteuid() != 0:
            return f"needs root to mount a tmpfs (running as uid {os.geteuid()}): run the tests as root"
        refused = tmpfs_refused()
        if refused:
            return (f"needs to mount a tmpfs, which this machine refuses ({refused}): run the tests as root "
                    "where mounting is allowed (a container needs CAP_SYS_ADMIN, e.g. docker run --privileged)")
        return None
    raise ValueError(f"unknown requirement {requirement!r}")
