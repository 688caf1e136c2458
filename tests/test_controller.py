"""What raytune-hpo asks of Ray Tune's controller, checked against the installed Ray: finished
trials retired from it (its snapshot holds the live ones), its snapshot copied whole, and every
experiment, of every scheduler, leaving the cluster's resources free for the next, placement
groups cancelled mid-creation included; slots freed together filled together; and, in a
trial's worker, Ray's SIGTERM exit kept from being lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import ray

import raytune_hpo as hpo
from raytune_hpo._ray.controller import _upload_whole_files
from raytune_hpo.directory import read_journal, read_ray_trials
from tests.helpers import free_cpus


def stepping(config: dict) -> None:
    """9 iterations with checkpoints (PBT and PB2 need them; a promoted trial goes on from its
    rung), each ``seconds`` long (none by default) and stamped with when it began and ended."""
    state = hpo.load_checkpoint()
    for t in range(0 if state is None else state["t"] + 1, 9):
        began = time.time()
        time.sleep(config.get("seconds", 0))
        hpo.report(loss=config["x"] + 1 / (t + 1), began=began, ended=time.time(), checkpoint={"t": t})


def test_finished_trials_leave_the_controller_and_its_snapshot_but_not_the_journal(ray_cluster, storage):
    res = hpo.run(stepping, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=40, max_t=2,
                  storage=storage, name="retired", verbose=0)
    assert len(read_journal(res.path).trials) == 40 and all(t.status == "TERMINATED" for t in res.trials)
    # Ray's last snapshot: the trials not yet retired when it was taken (one at least, always).
    assert 1 <= len(read_ray_trials(res.path)) <= 4


SCHEDULERS = [  # (scheduler, searcher, scheduler_options)
    ("fifo", "random", None), ("median", "random", None), ("threshold", "random", {"iteration_fraction": 0.5}),
    ("asha", "random", None), ("sha", "random", None), ("hyperband", "random", None),
    ("hyperband_async", "random", None), ("bohb", "bohb", None), ("dehb", "dehb", None),
    ("pbt", "random", None), ("pb2", "random", None),
]


def test_experiments_of_every_scheduler_back_to_back_leave_the_cluster_free(ray_cluster, storage):
    """Half-CPU trials, and an iteration budget that ends each experiment with trials still
    pending: every CPU is free again after each, and a last experiment whose trials need the
    whole cluster runs (it would wait forever for a CPU left reserved)."""
    total = ray.cluster_resources()["CPU"]
    for scheduler, searcher, options in SCHEDULERS:
        hpo.run(stepping, {"x": hpo.uniform(0, 1)}, metric="loss", searcher=searcher, scheduler=scheduler,
                scheduler_options=options, num_samples=9, max_t=9, resources={"cpu": 0.5}, iteration_budget=25,
                storage=storage, name=scheduler, seed=0, verbose=0)
        free = free_cpus(total)
        assert free == total, f"{scheduler} left {total - free:g} CPU reserved"
    whole = hpo.run(stepping, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=2, max_t=2,
                    resources={"cpu": total}, storage=storage, name="whole", verbose=0)
    assert len(whole.trials) == 2


def test_placement_groups_cancelled_while_created_leave_no_cpu_taken(ray_cluster, storage):
    """BOHB one trial at a time: Tune cancels the placement group it asked for the next trial
    when that trial takes the actor of the one that ended. Removed while Ray still created it,
    such a group left its CPUs taken in the raylet for good (half a CPU at each of these runs
    before CreatedPlacementGroupsRemoved)."""
    total = ray.cluster_resources()["CPU"]
    for run in range(3):
        hpo.run(stepping, {"x": hpo.uniform(0, 1)}, metric="loss", searcher="bohb", num_samples=10, max_t=3,
                max_concurrent=1, resources={"cpu": 0.5}, storage=storage, name=f"bohb{run}", seed=run, verbose=0)
        free = free_cpus(total)
        assert free == total, f"run {run} left {total - free:g} CPU taken"


def test_a_snapshot_file_is_replaced_whole_never_rewritten_in_place(tmp_path):
    import pyarrow.fs

    staging, experiment = tmp_path / "staging", tmp_path / "experiment"
    staging.mkdir()
    experiment.mkdir()
    (staging / "experiment_state-x.json").write_text('{"new": true}')
    (experiment / "experiment_state-x.json").write_text('{"old": true}')
    with open(experiment / "experiment_state-x.json") as reader:  # one holding the old file
        _upload_whole_files(str(staging), pyarrow.fs.LocalFileSystem(), str(experiment))
        assert reader.read() == '{"old": true}'
    assert (experiment / "experiment_state-x.json").read_text() == '{"new": true}'
    assert os.listdir(experiment) == ["experiment_state-x.json"]  # no temporary file left


def test_slots_freed_together_get_trials_together_when_the_searcher_is_not_rays(ray_cluster, storage):
    # dehb's first rung decided: 3 of 9 trials promoted to 3 iterations, and the next bracket's
    # trials to begin, on 2 CPUs, iterations of 50 ms. Ray alone lets a searcher of its own have one trial waiting to
    # start at a time: the promotions and the next trials then ran one after the other (pairs
    # of their iterations side by side: 0).
    res = hpo.run(stepping, {"x": hpo.uniform(0, 1), "seconds": 0.05}, metric="loss", searcher="dehb",
                  scheduler="dehb", max_t=9, num_samples=12, seed=0, storage=storage, name="slots", verbose=0)
    later = [(r["began"], r["ended"], t.trial_id) for t in res.trials for r in t.history if r["training_iteration"] > 1]
    later += [(r["began"], r["ended"], t.trial_id) for t in res.trials[9:] for r in t.history]
    side_by_side = sum(1 for a in later for b in later if a[2] < b[2] and a[0] < b[1] and b[0] < a[1])
    assert side_by_side >= 10, sorted(later)  # 28 to 34 in 3 runs here; 0 before


# A SIGTERM handled as Ray's workers handle it (ray/_private/worker.py, Worker.main_loop), landing
# in a weakref callback; "hooked" as a trial's worker is (raytune_hpo.trainable.as_trainable).
LOST_EXIT_SCRIPT = """
import os, signal, sys, time, weakref
from ray._raylet import raise_sys_exit_with_custom_error_message
from raytune_hpo._ray.worker import resend_lost_sigterm_exits

def ray_worker_handler(signum, frame):
    raise_sys_exit_with_custom_error_message("The process receives a SIGTERM.", exit_code=1)

signal.signal(signal.SIGTERM, ray_worker_handler)
if sys.argv[1] == "hooked":
    resend_lost_sigterm_exits()
    resend_lost_sigterm_exits()  # a second trial in the same worker: one hook still

def collected(ref):
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(1000):  # the handler runs here, inside the callback
        pass

class Model:
    pass

model = Model()
ref = weakref.ref(model, collected)
del model
time.sleep(5)
print("ran on", flush=True)
"""


@pytest.mark.parametrize("worker", ["plain", "hooked"])
def test_a_sigterm_landing_in_a_weakref_callback_still_ends_a_trials_worker(tmp_path, worker):
    script = tmp_path / "lost_exit.py"
    script.write_text(LOST_EXIT_SCRIPT)
    done = subprocess.run([sys.executable, str(script), worker], capture_output=True, text=True, timeout=60)
    if worker == "plain":  # Ray's handler alone: the exit lost, its traceback printed, the process on
        assert done.returncode == 0 and "ran on" in done.stdout and "SystemExit: 1" in done.stderr
    else:
        assert (done.returncode, done.stdout, done.stderr) == (1, "", "")
