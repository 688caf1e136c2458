"""One real local Ray cluster for the whole test run, and helpers shared by the tests."""

from __future__ import annotations

import math

import pytest

import raytune_hpo as hpo
from raytune_hpo.space import Integer


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray, started once; its address lets subprocesses join it."""
    import ray

    from raytune_hpo.runner import init_ray

    init_ray(num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


_cpus_taken_for_good = [0.0]  # by a test that already failed for it: not blamed on the next ones


@pytest.fixture(autouse=True)
def cluster_left_free(request):
    """A test that used the shared Ray hands every CPU back: a CPU left taken (an actor kept
    alive, a placement group or a raylet lease never returned) would make every later
    whole-cluster experiment wait forever, and be blamed for it."""
    yield
    if "ray_cluster" not in request.fixturenames:
        return
    import ray

    total = ray.cluster_resources()["CPU"] - _cpus_taken_for_good[0]
    free = free_cpus(total, wait_s=30)
    if free < total:
        _cpus_taken_for_good[0] += total - free
        groups = [g["bundles"] for g in ray.util.placement_group_table().values() if g["state"] != "REMOVED"]
        pytest.fail(f"{total - free:g} CPU still taken 30 s after the test; placement groups left: {groups}")


def free_cpus(total: float, wait_s: float = 5.0) -> float:
    """The CPUs free now, or as soon as ``total`` are within ``wait_s`` (Ray frees them as it
    removes placement groups)."""
    import time

    import ray

    deadline = time.monotonic() + wait_s
    while (free := ray.available_resources().get("CPU", 0.0)) < total and time.monotonic() < deadline:
        time.sleep(0.1)
    return free


@pytest.fixture
def storage(tmp_path):
    return str(tmp_path / "runs")


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
