"""run() and resume(): bad input refused before anything starts, existing results left alone,
and an experiment whose driver was killed finished by resume() without losing or rerunning a
finished trial."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import raytune_hpo as hpo
from tests.helpers import BOWL_SPACE, SLOW, kill_driver_after, multi_fidelity_bowl, start_killed_script, wait_for_ended

GOOD = dict(metric="loss", mode="min")


def not_a_trainable(a, b):
    return a + b


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "minimize"}, "mode: must be 'min' or 'max', got 'minimize'"),
        ({"metric": ""}, "metric: must be a non-empty string (a list of them for several objectives), got ''"),
        ({"num_samples": 0}, "num_samples: must be a positive integer, got 0"),
        ({"num_samples": 2.5}, "num_samples: must be a positive integer, got 2.5"),
        ({"max_t": -3}, "max_t: must be a positive integer, got -3"),
        ({"max_concurrent": True}, "max_concurrent: must be a positive integer, got True"),
        ({"max_failures": -1}, "max_failures: must be a non-negative integer, got -1"),
        ({"time_budget_s": 0}, "time_budget_s: must be a positive number of seconds, got 0"),
        ({"iteration_budget": 0}, "iteration_budget: must be a positive integer, got 0"),
        ({"seed": "0"}, "seed: must be an integer, got '0'"),
        ({"resources": {"gpus": 1}}, "resources.gpus: unknown resource; use cpu, gpu, memory"),
        ({"resources": {"cpu": -1}}, "resources.cpu: must be a number >= 0, got -1"),
        ({"resources": {"cpu": 0}}, "resources: a trial needs some cpu or gpu"),
        ({"resources": [1]}, "resources: must be a dict, got list"),
        ({"searcher_options": 3}, "searcher_options: must be a dict, got int"),
        ({"name": "a/b"}, "name: 'a/b' must be letters, digits, '.', '_' or '-'"),
        ({"space": {"x": hpo.uniform(2, 1)}}, "space.x: low must be below high, got low=2 high=1"),
        ({"trainable": 3}, "trainable: must be a function train(config), got int"),
        ({"trainable": not_a_trainable}, "trainable: 'not_a_trainable' must take one argument, the config dict"),
    ],
)
def test_bad_input_is_refused_in_one_line_before_anything_starts(storage, kwargs, message):
    args = {"trainable": multi_fidelity_bowl, "space": BOWL_SPACE, **GOOD, "storage": storage,
            "name": "exp", **kwargs}
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(args.pop("trainable"), args.pop("space"), **args)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not os.path.exists(os.path.join(storage, "exp"))


def test_iteration_budget_ends_the_experiment_once_its_trials_ran_that_many_iterations(ray_cluster, storage):
    res = hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", num_samples=50, max_t=9,
                  iteration_budget=20, storage=storage, name="budget", verbose=0)
    spent = sum(t.iterations for t in res.trials)
    # Two trials run at once: the one not reporting the 20th iteration may report once more.
    assert 20 <= spent <= 21
    assert sum(t.iterations > 0 for t in res.trials) <= 4  # 20 iterations: at most 3 trials of 9, and one begun
    assert max(t.iterations for t in res.trials) == 9  # max_t still ends trials


def test_unwritable_storage_is_refused(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(hpo.ConfigError, match="storage: cannot write to .*; choose a writable directory"):
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, **GOOD, storage=str(blocked / "runs"))


def test_an_existing_experiment_is_not_overwritten(ray_cluster, storage):
    first = hpo.run(multi_fidelity_bowl, BOWL_SPACE, **GOOD, num_samples=2, max_t=2,
                    storage=storage, name="exp", verbose=0)
    before = sorted(os.listdir(first.path))
    with pytest.raises(hpo.ConfigError, match=r"name: experiment '.*exp' exists already; finish it with hpo.resume"):
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, **GOOD, storage=storage, name="exp")
    assert sorted(os.listdir(first.path)) == before
    assert len(hpo.load(first.path).trials) == 2


def test_resume_after_the_driver_was_killed_loses_and_reruns_nothing(ray_cluster, storage, tmp_path):
    ledger = tmp_path / "ledger.txt"
    path = os.path.join(storage, "killed")
    driver = start_killed_script(tmp_path, storage, ledger, ray_cluster, trials=8, at_once=2)
    finished = {t.name: t.history for t in kill_driver_after(driver, path, 3)}
    assert 3 <= len(finished) < 8, "the driver was not killed mid-experiment"

    res = hpo.resume(path, verbose=0)
    assert res.num_errors == 0 and len(res.trials) == 8
    assert all(t.status == "TERMINATED" and t.iterations == 4 for t in res.trials)
    starts = ledger.read_text().split()
    for name, history in finished.items():
        assert starts.count(name) == 1, f"{name} had finished, and was run again"
        assert next(t for t in res.trials if t.name == name).history == history
    assert len(set(starts)) == 8


# A driver that reports how its run ended: "INTERRUPTED <message>" and exit 130 on a stop signal.
SIGNALLED_SCRIPT = SLOW + """
try:
    hpo.run(slow, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=8, max_concurrent=2, seed=0,
            storage=sys.argv[1], name="signalled", verbose=1)
except hpo.Interrupted as stopped:
    print("INTERRUPTED", stopped, stopped.results.state, flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize(("signal_name", "how"), [("SIGINT", "Ctrl-C"), ("SIGTERM", "SIGTERM")])
def test_a_stop_signal_stops_cleanly_in_one_line_and_resume_finishes_the_rest(ray_cluster, storage, tmp_path,
                                                                               signal_name, how):
    import signal

    script = tmp_path / "signalled.py"
    script.write_text(SIGNALLED_SCRIPT)
    path = os.path.join(storage, "signalled")
    driver = subprocess.Popen([sys.executable, str(script), storage], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "RAY_ADDRESS": ray_cluster})
    wait_for_ended(path, 2)
    driver.send_signal(getattr(signal, signal_name))
    out, err = driver.communicate(timeout=120)

    assert driver.returncode == 130, err
    (line,) = [line for line in out.splitlines() if line.startswith("INTERRUPTED")]
    assert line.startswith(f"INTERRUPTED interrupted ({how}): ") and " of 8 trials finished, best loss " in line
    assert line.endswith(f"finish it with: raytune-hpo resume {path} (or hpo.resume({path!r}) in Python) interrupted")
    assert "Traceback" not in err and "Tuner.restore" not in err and "Stop signal received" not in err
    before = {t.name: t.history for t in hpo.load(path).trials if t.status == "TERMINATED"}
    assert hpo.load(path).state == "interrupted" and 2 <= len(before) < 8

    res = hpo.resume(path, verbose=0)
    assert res.state == "finished" and len(res.trials) == 8 and all(t.iterations == 3 for t in res.trials)
    assert all(t.history == before[t.name] for t in res.trials if t.name in before)


def test_a_run_leaves_the_signal_handlers_as_it_found_them(ray_cluster, storage):
    import signal

    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1")
    before = {name: signal.getsignal(getattr(signal, name)) for name in names}
    hpo.run(multi_fidelity_bowl, BOWL_SPACE, **GOOD, num_samples=2, max_t=2, storage=storage, name="handlers", verbose=0)
    assert {name: signal.getsignal(getattr(signal, name)) for name in names} == before


THREADED_SCRIPT = """
import sys, tempfile, threading
import raytune_hpo as hpo

def train(config):
    hpo.report(loss=config["x"])

def run():
    res = hpo.run(train, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=3, storage=tempfile.mkdtemp(),
                  name="threaded", verbose=0)
    print("trials", len(res.trials), flush=True)

worker = threading.Thread(target=run)
worker.start()
worker.join()
"""


def test_a_run_from_another_thread_than_the_main_one_exits_promptly_and_cleanly(tmp_path):
    import time

    script = tmp_path / "threaded.py"
    script.write_text(THREADED_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # it starts its own Ray, in the thread
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    took = time.monotonic() - start
    assert done.returncode == 0 and "trials 3" in done.stdout, done.stderr[-2000:]
    assert "Failed to connect to GCS" not in done.stderr
    assert took < 45, f"{took:.0f} s: the interpreter waited at exit"
