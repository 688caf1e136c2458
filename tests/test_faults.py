"""Faults injected into running and stored experiments, each test asserting what survived:
a trial that raises, one that reports NaN or infinity, a trial's worker killed with SIGKILL,
the driver killed five times over, storage read-only, too small or filling up, and experiment
directories damaged in every part. (Once-only cases live beside their feature: a driver killed
once in tests/test_runner.py, a failed trial's exit status 1 in tests/test_config.py.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Callable, Iterator

import pytest
import torch

import raytune_hpo as hpo
from raytune_hpo import _storage
from raytune_hpo.cli import main
from raytune_hpo.directory import ResultFile, read_journal, read_results
from tests.helpers import cli, kill_driver_after, start_killed_script, write

FAULTY = '''
import raytune_hpo as hpo

def train(config):
    """Reports once; the trial with fail=True then raises on every attempt, naming the attempt."""
    with open(config["ledger"], "a") as ledger:
        ledger.write(f"{config['fail']}\\n")
    hpo.report(loss=1.0 if config["fail"] else 0.5)
    if config["fail"]:
        with open(config["ledger"]) as ledger:
            attempt = ledger.read().split().count("True")
        raise RuntimeError(f"injected failure, attempt {attempt}\\nsecond line of the message")
'''


def one_line(error: BaseException) -> str:
    """The message of a ConfigError, checked to be one line."""
    message = str(error)
    assert "\n" not in message, message
    return message


def test_a_trial_that_raises_is_retried_kept_with_its_traceback_and_told_in_one_line(ray_cluster, tmp_path, capsys):
    (tmp_path / "faulty.py").write_text(FAULTY)
    ledger = tmp_path / "ledger.txt"
    experiment = {"name": "raises", "trainable": "faulty:train", "metric": "loss", "searcher": "grid",
                  "space": {"fail": {"grid": [False, True]}, "ledger": str(ledger)}, "max_failures": 2}
    done = cli("run", write(tmp_path, experiment), "--quiet", cwd=tmp_path, env={"RAY_ADDRESS": ray_cluster})

    # Retried up to max_failures (3 attempts), the experiment completed, its other trial too.
    assert sorted(ledger.read_text().split()) == ["False", "True", "True", "True"]
    assert done.returncode == 1 and "2 trials, 1 errored" in done.stdout
    res = hpo.load(str(tmp_path / "runs" / "raises"))
    failed, passed = sorted(res.trials, key=lambda t: not t.config["fail"])
    assert (failed.status, passed.status) == ("ERROR", "TERMINATED")
    # Kept in the trial's directory: every attempt, each with its traceback down to the raise.
    with open(os.path.join(failed.path, "error.txt")) as f:
        kept = f.read()
    assert kept.count("Failure # ") == 3 and kept.count('faulty.py", line ') == 3
    assert "injected failure, attempt 1" in kept and "second line of the message" in kept
    # One line, the last attempt's exception, wherever it is shown; no traceback on the console.
    line = "RuntimeError: injected failure, attempt 3"
    assert failed.error_line == line and passed.error_line is None
    assert list(res.dataframe()["error"].fillna("")) == ["", line]
    assert done.stderr == f"error in {failed.name}: {line}\n"
    assert "Traceback" not in done.stdout
    assert main(["show", res.path]) == 0
    shown = capsys.readouterr().out
    assert f"error in {failed.name}: {line}\n" in shown and "Traceback" not in shown and "File " not in shown


def diverges(config: dict) -> None:
    """Reports 1.5, then the value named by ``kind`` (NaN or infinite, or finite), 5 times in all."""
    for t in range(1, 6):
        hpo.report(loss=1.5 if t == 1 else float(config["kind"]) if config["kind"] != "finite" else 1 / t)


def test_a_trial_reporting_nan_or_inf_is_stopped_marked_and_never_the_best(ray_cluster, storage, capsys):
    res = hpo.run(diverges, {"kind": hpo.grid(["finite", "nan", "inf", "-inf"])}, metric="loss", mode="min",
                  searcher="grid", storage=storage, name="nan", verbose=0)
    by_kind = {t.config["kind"]: t for t in res.trials}
    assert by_kind["finite"].iterations == 5 and res.num_errors == 0
    for kind in ("nan", "inf", "-inf"):
        trial = by_kind[kind]
        assert trial.status == "TERMINATED" and trial.iterations == 2, kind  # stopped at the first one
        assert trial.non_finite("loss") == f"loss was {kind} at iteration 2"
    # -inf is the lowest loss of all: never chosen, under mode min.
    assert res.best_config == {"kind": "finite"} and res.best_metrics["loss"] == 0.2
    frame = res.dataframe().set_index("config.kind")
    assert frame.loc["nan", "non_finite"] == "loss was nan at iteration 2"
    assert frame["non_finite"].isna()["finite"] and frame["error"].isna().all()
    assert main(["show", res.path]) == 0
    shown = capsys.readouterr().out
    for kind in ("nan", "inf", "-inf"):
        assert f"{by_kind[kind].name}: loss was {kind} at iteration 2; stopped there, never chosen as best\n" in shown


def killed_once(config: dict) -> None:
    """5 epochs with checkpoints; the first attempt writes its pid after epoch 2 and waits to be killed."""
    state = hpo.load_checkpoint()
    start = 0 if state is None else state["epoch"] + 1
    for epoch in range(start, 5):
        hpo.report(loss=config["x"] + 1 / (epoch + 1), started_at=start, pid=os.getpid(),
                   checkpoint={"epoch": epoch})
        if epoch == 2 and state is None:
            with open(config["pid_file"] + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(config["pid_file"] + ".tmp", config["pid_file"])
            time.sleep(120)


def test_a_trial_whose_worker_is_killed_is_retried_from_its_last_checkpoint(ray_cluster, storage, tmp_path):
    pid_file = tmp_path / "pid"
    killed: list[int] = []

    def kill_once() -> None:
        deadline = time.time() + 120
        while not pid_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        killed.append(int(pid_file.read_text()))
        os.kill(killed[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_once, daemon=True)
    killer.start()
    res = hpo.run(killed_once, {"x": hpo.uniform(0, 1), "pid_file": str(pid_file)}, metric="loss",
                  num_samples=1, max_failures=1, storage=storage, name="worker", verbose=0)
    killer.join()
    (trial,) = res.trials
    assert res.num_errors == 0 and trial.status == "TERMINATED"
    # Reports go on from the checkpoint of epoch 2: iterations 4 and 5 by a new worker, none redone.
    assert [r["training_iteration"] for r in trial.history] == [1, 2, 3, 4, 5]
    assert [r["started_at"] for r in trial.history] == [0, 0, 0, 3, 3]
    pids = [r["pid"] for r in trial.history]
    assert pids[:3] == killed * 3 and killed[0] not in pids[3:]
    assert trial.error_line == "The actor died unexpectedly before finishing this task."


def test_a_driver_killed_five_times_loses_reruns_and_changes_no_finished_trial(ray_cluster, storage, tmp_path):
    ledger = tmp_path / "ledger.txt"  # each trial's name, each time it starts
    path = os.path.join(storage, "killed")
    driver = start_killed_script(tmp_path, storage, ledger, ray_cluster, trials=10, at_once=1)
    rows: dict[str, str] = {}  # a finished trial's result.json when first seen finished
    starts_then: dict[str, int] = {}  # and how many starts the ledger had then
    for kill in range(1, 6):  # after 1, 2, 3, 4, 5 finished trials (or more, if they came at once)
        done = kill_driver_after(driver, path, max(kill, len(rows) + 1))
        assert len(rows) < len(done) < 10, f"kill {kill} came after the experiment ended or before progress"
        starts = len(ledger.read_text().split())
        for trial in done:
            with open(os.path.join(trial.path, "result.json")) as f:
                now = f.read()
            assert rows.setdefault(trial.name, now) == now, f"{trial.name} changed after it had finished"
            starts_then.setdefault(trial.name, starts)
        driver = subprocess.Popen(["raytune-hpo", "resume", path, "--quiet"], cwd=tmp_path,
                                  env={**os.environ, "RAY_ADDRESS": ray_cluster}, stdout=subprocess.DEVNULL)
    assert driver.wait(timeout=120) == 0

    res = hpo.load(path)
    assert len(res.trials) == 10 == len({t.trial_id for t in res.trials}) and res.num_errors == 0
    assert all(t.status == "TERMINATED" and t.iterations == 4 for t in res.trials)
    starts = ledger.read_text().split()
    for trial in res.trials:
        if trial.name in rows:
            with open(os.path.join(trial.path, "result.json")) as f:
                assert f.read() == rows[trial.name], f"{trial.name} changed after it had finished"
            assert trial.name not in starts[starts_then[trial.name]:], f"{trial.name} ran again after it had finished"


# Trivial trials, each writing its name to the ledger when it starts: the experiment storage/scale.
SCALE_SCRIPT = """
import sys
import raytune_hpo as hpo

def trivial(config):
    from ray import tune
    with open(config["ledger"], "a") as ledger:
        ledger.write(tune.get_context().get_trial_name() + "\\n")
    hpo.report(loss=config["x"])

hpo.run(trivial, {"x": hpo.uniform(0, 1), "ledger": sys.argv[2]}, metric="loss", num_samples=int(sys.argv[3]),
        seed=0, storage=sys.argv[1], name="scale", verbose=0)
"""


def test_a_driver_killed_at_five_moments_of_2000_trials_loses_reruns_and_changes_nothing(ray_cluster, storage,
                                                                                           tmp_path):
    ledger = tmp_path / "ledger.txt"  # each trial's name, each time it starts
    path = os.path.join(storage, "scale")
    driver = start_killed_script(tmp_path, storage, ledger, ray_cluster, trials=2000, at_once=2, script=SCALE_SCRIPT)
    rows: dict[str, str] = {}  # a finished trial's result.json when first seen finished
    starts_then: dict[str, int] = {}  # and how many starts the ledger had then
    for moment in (150, 500, 900, 1300, 1700):
        done = kill_driver_after(driver, path, moment, timeout=300)
        assert moment <= len(done) < 2000, f"the kill after {moment} trials came after the experiment ended"
        starts = len(ledger.read_text().split())
        for trial in done:
            with open(os.path.join(trial.path, "result.json")) as f:
                assert rows.setdefault(trial.name, f.read()) == rows[trial.name], f"{trial.name} changed"
            starts_then.setdefault(trial.name, starts)
        driver = subprocess.Popen(["raytune-hpo", "resume", path, "--quiet"], cwd=tmp_path,
                                  env={**os.environ, "RAY_ADDRESS": ray_cluster}, stdout=subprocess.DEVNULL)
    assert driver.wait(timeout=300) == 0

    journal = read_journal(path)
    trials = list(journal.trials.values())
    assert len(trials) == 2000 and len({t.name for t in trials}) == 2000
    assert all(t.status == "TERMINATED" and t.ends == 1 for t in trials), "a trial ended twice, or never"
    starts = ledger.read_text().split()
    ran_again = {name for name in rows if name in starts[starts_then[name]:]}
    assert not ran_again, f"{len(ran_again)} trials ran again after they had finished, e.g. {sorted(ran_again)[0]}"
    for trial in trials:
        if trial.name in rows:
            with open(os.path.join(path, trial.name, "result.json")) as f:
                assert f.read() == rows[trial.name], f"{trial.name} changed after it had finished"
    # Only the trials running at a kill may have started twice: at most two at a time, five kills.
    assert sum(t.starts - 1 for t in trials) <= 2 * 5


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Callable[[str], str]]:
    """``mount(options)``: a tmpfs mounted with ``options`` (``size=2m``, ``ro``...) at one
    folder, remounted with new ones on later calls, unmounted at the end. Only for tests marked
    ``root``: tests/conftest.py skips them, saying why, where this machine refuses the mount."""
    where = tmp_path / "mounted"
    where.mkdir()
    mounted = False

    def mount(options: str) -> str:
        nonlocal mounted
        command = (["mount", "-o", f"remount,{options}", str(where)] if mounted
                   else ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)])
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr.strip()}"
        mounted = True
        return str(where)

    yield mount
    if mounted:
        subprocess.run(["umount", "--lazy", str(where)], check=True)


@pytest.mark.root
def test_read_only_or_too_small_storage_is_refused_in_one_line_before_anything_starts(tmpfs):
    storage = tmpfs("ro,size=1m")
    with pytest.raises(hpo.ConfigError) as refused:
        hpo.run(diverges, {"kind": hpo.choice(["finite"])}, metric="loss", storage=storage, name="ro")
    assert "storage: cannot write to" in one_line(refused.value) and "(Read-only file system)" in str(refused.value)

    storage = tmpfs("rw,size=2m")
    with pytest.raises(hpo.ConfigError) as refused:
        hpo.run(diverges, {"kind": hpo.choice(["finite"])}, metric="loss", storage=storage, name="small")
    assert one_line(refused.value).startswith(f"storage: only 2.0 MiB free on the filesystem of {storage!r}, "
                                              "under the 32 MiB an experiment keeps to save its state")
    assert os.listdir(storage) == []


def heavy(config: dict) -> None:
    """4 epochs of 0.2 s, each saving a 1 MiB checkpoint."""
    state = hpo.load_checkpoint()
    for epoch in range(0 if state is None else state["epoch"] + 1, 4):
        time.sleep(0.2)
        hpo.report(loss=config["x"] + 1 / (epoch + 1), checkpoint={"epoch": epoch, "w": torch.zeros(2**18)})


@pytest.mark.root
def test_a_disk_filling_up_stops_the_experiment_with_its_state_saved_and_resume_finishes_it(ray_cluster, tmpfs):
    storage = tmpfs("size=40m")  # 8 MiB above the 32 kept: room for the checkpoints of 3 or 4 trials of 8
    with pytest.raises(hpo.StorageFull) as stopped:
        hpo.run(heavy, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=8, max_concurrent=2, seed=0,
                storage=storage, name="full", verbose=0)
    path = os.path.join(storage, "full")
    assert one_line(stopped.value).startswith("storage: only ")
    assert f"MiB left on the filesystem of {path!r}; the experiment stopped with its state saved" in str(stopped.value)
    assert str(stopped.value).endswith(f"free space, then resume it: hpo.resume({path!r}) (raytune-hpo resume {path})")

    before = hpo.load(path)  # readable, nothing failed for want of space, and some trials left to run
    finished = {t.trial_id: t.history for t in before.trials if t.status == "TERMINATED"}
    assert before.num_errors == 0 and 1 <= len(finished) < 8
    with pytest.raises(hpo.ConfigError, match=r"^storage: only .* MiB free .*; free space, then resume it$"):
        hpo.resume(path, verbose=0)
    tmpfs("ro")  # and read-only: refused in one line too
    with pytest.raises(hpo.ConfigError, match=r"cannot write the lock file hpo.lock \(Read-only file system\)"):
        hpo.resume(path, verbose=0)

    tmpfs("rw,size=80m")  # space freed
    res = hpo.resume(path, verbose=0)
    assert len(res.trials) == 8 and res.num_errors == 0
    assert all(t.status == "TERMINATED" and t.iterations == 4 for t in res.trials), [(t.status, t.iterations, len(t.history)) for t in res.trials]
    assert all(t.history == finished[t.trial_id] for t in res.trials if t.trial_id in finished)


def burst(config: dict) -> None:
    """One report, with a checkpoint of ``mib`` MiB."""
    hpo.report(loss=config["x"], checkpoint={"w": torch.zeros(config["mib"] * 2**18)})


@pytest.mark.root
@pytest.mark.parametrize("check_every_s", [3600.0, 0.0], ids=["failed-write-first", "watch-first"])
def test_a_disk_filled_at_once_stops_cleanly_and_the_resume_it_names_finishes_the_experiment(ray_cluster, tmpfs,
                                                                                              monkeypatch,
                                                                                              check_every_s):
    # The write fills the disk, then fails; LowSpace sees the space gone either at the trial's error
    # (its half-second check held off: the trial is recorded failed) or, checking at every step,
    # before Ray has word of the failure (the trial is saved unfinished). Either way the message
    # names the resume that fits what was saved, and that resume finishes the experiment.
    monkeypatch.setattr(_storage, "_CHECK_EVERY_S", check_every_s)
    storage = tmpfs("size=40m")  # 24 MiB free besides the reserve: the first checkpoint, 30 MiB, fails
    with pytest.raises(hpo.StorageFull) as stopped:
        hpo.run(burst, {"x": hpo.uniform(0, 1), "mib": 30}, metric="loss", num_samples=2, max_concurrent=1,
                seed=0, storage=storage, name="burst", verbose=0)
    path = os.path.join(storage, "burst")
    (first,) = hpo.load(path).trials  # the state saved whole: the second trial not begun
    failed = first.status == "ERROR"
    if check_every_s > 1:
        assert failed and "No space left on device" in first.error_line
    resume = (f"hpo.resume({path!r}, retry_errored=True) (raytune-hpo resume {path} --retry-errored), which also "
              f"reruns its 1 failed trials" if failed else f"hpo.resume({path!r}) (raytune-hpo resume {path})")
    assert one_line(stopped.value).startswith("storage: only ")
    assert one_line(stopped.value).endswith(f"free space, then resume it: {resume}")

    tmpfs("size=160m")
    res = hpo.resume(path, retry_errored=failed, verbose=0)
    assert len(res.trials) == 2 and res.num_errors == 0 and all(t.iterations == 1 for t in res.trials)


def steady(config: dict) -> None:
    """3 epochs with checkpoints."""
    for epoch in range(3):
        hpo.report(loss=config["x"] + 1 / (epoch + 1), checkpoint={"epoch": epoch})


@pytest.fixture(scope="module")
def intact(ray_cluster, tmp_path_factory) -> str:
    """A finished experiment of 2 trials, to copy and damage."""
    storage = str(tmp_path_factory.mktemp("intact"))
    return hpo.run(steady, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=2, seed=0, storage=storage,
                   name="exp", verbose=0).path


def cut_short(path: str) -> None:
    """The file ``path`` keeps the first half of its bytes, as after a crash mid-write."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def state_file(path: str) -> str:
    (state,) = [name for name in os.listdir(path) if name.startswith("experiment_state-")]
    return os.path.join(path, state)


def empty(path: str) -> None:
    shutil.rmtree(path)
    os.mkdir(path)


# What is damaged, how, and what load and resume say (None: load reads it nonetheless).
DAMAGE = {
    "hpo.json cut short": (lambda p: cut_short(os.path.join(p, "hpo.json")),
                           "hpo.json: cannot be read (", "hpo.json: cannot be read ("),
    "hpo.json missing": (lambda p: os.remove(os.path.join(p, "hpo.json")),
                         "hpo.json is missing, though trials were recorded; the experiment record is damaged",
                         "hpo.json is missing, though trials were recorded"),
    "hpo.json of something else": (lambda p: write_json(os.path.join(p, "hpo.json"), {"name": "exp"}),
                                   "hpo.json: metric, mode, seed, resources missing; the experiment record is damaged",
                                   "hpo.json: metric, mode, seed, resources missing"),
    "experiment state cut short": (lambda p: cut_short(state_file(p)),
                                   None, "; the experiment state is damaged"),
    "trials.jsonl missing": (lambda p: os.remove(os.path.join(p, "trials.jsonl")),
                             "trials.jsonl is missing; the experiment record is damaged",
                             "trials.jsonl is missing; the experiment record is damaged"),
    "trials.jsonl's last line cut short": (lambda p: cut_last_line(os.path.join(p, "trials.jsonl")), None, None),
    "hpo.json of raytune-hpo 0.1": (lambda p: write_json(os.path.join(p, "hpo.json"), {**read_json(p), "format": 1}),
                                    "was written by raytune-hpo 0.1, before trials were journaled",
                                    "was written by raytune-hpo 0.1, before trials were journaled"),
    "trainable.pkl missing": (lambda p: os.remove(os.path.join(p, "trainable.pkl")),
                              None, "trainable.pkl is missing; the experiment record is damaged"),
    "trainable.pkl cut short": (lambda p: cut_short(os.path.join(p, "trainable.pkl")),
                                None, "cannot load the trainable tests.test_faults:steady from trainable.pkl ("),
    "tuner.pkl missing": (lambda p: os.remove(os.path.join(p, "tuner.pkl")),
                          None, "Ray Tune cannot restore the experiment ("),
    "an empty directory": (empty, "is not a raytune-hpo experiment directory (no hpo.json)",
                           "is not a raytune-hpo experiment directory (no hpo.json)"),
}


def write_json(path: str, value: object) -> None:
    with open(path, "w") as f:
        json.dump(value, f)


def read_json(path: str) -> dict:
    with open(os.path.join(path, "hpo.json")) as f:
        return json.load(f)


def cut_last_line(path: str) -> None:
    """The file's last line keeps half its characters, as after a crash mid-append."""
    with open(path) as f:
        text = f.read()
    start = text.rindex("\n", 0, -1) + 1
    with open(path, "w") as f:
        f.write(text[: start + (len(text) - start) // 2])


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_experiment_directory_is_told_in_one_line_by_load_resume_and_cli(intact, tmp_path, damage, capsys):
    path = str(shutil.copytree(intact, tmp_path / "exp"))
    spoil, on_load, on_resume = DAMAGE[damage]
    spoil(path)
    for command, message in (("show", on_load), ("resume", on_resume)):
        call = hpo.load if command == "show" else lambda p: hpo.resume(p, verbose=0)
        if message is None:
            assert len(call(path).trials) == 2
            continue
        with pytest.raises(hpo.HPOError) as told:
            call(path)
        # A record that cannot be read is a DamagedExperiment; a directory that is not one, or
        # one of another version, a ConfigError.
        assert isinstance(told.value, hpo.DamagedExperiment) == ("is damaged" in str(told.value)), type(told.value)
        assert message in one_line(told.value), (command, str(told.value))
        assert main([command, path]) == 2
        assert capsys.readouterr().err == f"raytune-hpo: error: {told.value}\n", command


def test_a_result_line_cut_short_is_skipped_on_load_and_ended_before_the_next_report(intact, tmp_path):
    path = str(shutil.copytree(intact, tmp_path / "exp"))
    trial = hpo.load(path).trials[0]
    history = trial.history
    result = os.path.join(trial.path, "result.json")
    with open(result) as f:
        rows = f.read()
    with open(result, "w") as f:
        f.write(rows[: rows.rindex("\n", 0, -1) + 20])  # the last report cut 20 characters in
    assert hpo.load(path).trials[0].history == history[:-1]

    appended = ResultFile(trial.path)  # a resumed trial's next report goes on a line of its own
    appended.append({"loss": 0.5, "training_iteration": 3})
    appended.close()
    assert read_results(trial.path) == history[:-1] + [{"loss": 0.5, "training_iteration": 3}]
