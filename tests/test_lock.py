"""One experiment at a time per directory: while one process runs an experiment, a second run
or resume of it is refused in one line naming the holder, and the first goes on to the end; a
holder killed with SIGKILL leaves no lock behind, so resume finishes its experiment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

import raytune_hpo as hpo
from raytune_hpo._lock import LOCK_FILE, experiment_lock
from raytune_hpo.runner import execute, plan
from tests.helpers import kill_driver_after

SLOW_SCRIPT = """
import sys, time
import raytune_hpo as hpo

def slow(config):
    for epoch in range(3):
        time.sleep(0.4)
        hpo.report(loss=config["x"] / (epoch + 1))

hpo.run(slow, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=3, max_concurrent=1, seed=0,
        storage=sys.argv[1], name="held", verbose=0)
"""


def start_slow_run(storage: str, ray_address: str, folder) -> subprocess.Popen:
    """The experiment ``storage/held``: 3 trials of 1.2 s, one at a time, in another process."""
    script = folder / "slow.py"
    script.write_text(SLOW_SCRIPT)
    return subprocess.Popen([sys.executable, str(script), storage], cwd=folder,
                            env={**os.environ, "RAY_ADDRESS": ray_address})


def wait_until_held(path: str, driver: subprocess.Popen, timeout: float = 60) -> dict:
    """The lock file's record once ``driver`` holds the experiment and has written it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(os.path.join(path, LOCK_FILE)) as f:
                owner = json.load(f)
            if owner["pid"] == driver.pid and os.path.exists(os.path.join(path, "hpo.json")):
                return owner
        except (OSError, ValueError):
            pass
        assert driver.poll() is None, "the first run ended before it held its directory"
        time.sleep(0.1)
    raise AssertionError("the first run never held its directory")


def test_a_second_run_or_resume_is_refused_while_the_first_runs(ray_cluster, storage, tmp_path):
    path = os.path.join(storage, "held")
    space = {"x": hpo.uniform(0, 1)}
    # Checked before the first run made the directory: a second run that starts at the same time.
    racing = plan(lambda config: None, space, metric="loss", storage=storage, name="held")
    driver = start_slow_run(storage, ray_cluster, tmp_path)
    owner = wait_until_held(path, driver)
    holder = f"being run by pid {driver.pid} on host {socket.gethostname()} since {owner['started']}"

    attempts = {
        "resume": (lambda: hpo.resume(path, verbose=0), holder),
        "a run planned before": (lambda: execute(racing, verbose=0), holder),
        "a run": (lambda: hpo.run(lambda config: None, space, metric="loss", storage=storage, name="held"),
                  "exists already"),
    }
    for what, (attempt, message) in attempts.items():
        with pytest.raises(hpo.ConfigError) as refused:
            attempt()
        assert message in str(refused.value) and "\n" not in str(refused.value), what
    done = subprocess.run(["raytune-hpo", "resume", path], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("raytune-hpo: error: ") and holder in done.stderr and done.stderr.count("\n") == 1
    assert hpo.load(path).name == "held"  # reading needs no lock
    assert driver.poll() is None, "the first run ended before the second attempts: they proved nothing"

    assert driver.wait(timeout=120) == 0
    results = hpo.load(path)
    assert len(results.trials) == 3 and results.num_errors == 0
    assert all(t.status == "TERMINATED" and t.iterations == 3 for t in results.trials)
    with open(os.path.join(path, LOCK_FILE)) as f:
        assert f.read() == ""  # released and emptied at the end


def test_a_run_killed_with_sigkill_leaves_no_stuck_lock(ray_cluster, storage, tmp_path):
    path = os.path.join(storage, "held")
    driver = start_slow_run(storage, ray_cluster, tmp_path)
    wait_until_held(path, driver)
    finished = kill_driver_after(driver, path, 1)
    assert 1 <= len(finished) < 3, "the driver was not killed mid-experiment"
    with open(os.path.join(path, LOCK_FILE)) as f:
        assert json.load(f)["pid"] == driver.pid  # the dead holder's record is still there

    results = hpo.resume(path, verbose=0)
    assert len(results.trials) == 3 and results.num_errors == 0
    assert all(t.status == "TERMINATED" and t.iterations == 3 for t in results.trials)


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    path = str(tmp_path / "exp")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom raytune_hpo._lock import experiment_lock\n"
         "with experiment_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)", path],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(hpo.ConfigError, match=rf"being run by pid {holder.pid} on host {socket.gethostname()} "
                                               r"since .*; wait for it to end or stop that process"):
        with experiment_lock(path):
            pass
    holder.kill()
    holder.wait()
    with experiment_lock(path):
        with open(os.path.join(path, LOCK_FILE)) as f:
            assert json.load(f)["pid"] == os.getpid()
