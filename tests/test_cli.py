"""The ``raytune-hpo`` command."""

from __future__ import annotations

import subprocess

import raytune_hpo as hpo


def test_list_names_every_searcher_and_scheduler_with_one_line_each():
    done = subprocess.run(["raytune-hpo", "list"], capture_output=True, text=True)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    for name in list(hpo.SEARCHERS) + list(hpo.SCHEDULERS):
        assert any(line.split()[0] == name for line in lines if line.startswith("  ")), name
    assert any(line.split()[0] == "bohb" and "needs scheduler bohb or hyperband" in line for line in lines)


def test_unknown_command_exits_2():
    done = subprocess.run(["raytune-hpo", "fly"], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice: 'fly'" in done.stderr


def test_a_closed_terminal_stops_the_run_cleanly_and_resume_quiet_prints_only_the_summary(ray_cluster, tmp_path):
    """``raytune-hpo run`` on a terminal (a pseudo-terminal here) that goes away: SIGHUP, a
    clean stop (status 130), ``show`` says so; ``resume --quiet`` finishes it with no progress
    line."""
    import fcntl
    import os
    import sys
    import termios

    from tests.helpers import SLOW, cli, wait_for_ended, write

    (tmp_path / "slowly.py").write_text(SLOW)
    experiment = write(tmp_path, {"name": "hangup", "trainable": "slowly:slow", "metric": "loss", "num_samples": 8,
                                  "max_concurrent": 2, "seed": 0, "space": {"x": {"uniform": [0, 1]}}})
    path = str(tmp_path / "runs" / "hangup")
    main, terminal = os.openpty()

    def take_the_terminal() -> None:  # the run's own session, its controlling terminal the pty
        os.setsid()
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    driver = subprocess.Popen([sys.executable, "-m", "raytune_hpo.cli", "run", experiment], cwd=tmp_path,
                              stdin=terminal, stdout=terminal, stderr=terminal, preexec_fn=take_the_terminal,
                              env={**os.environ, "RAY_ADDRESS": ray_cluster})
    os.close(terminal)
    wait_for_ended(path, 2)
    while select_ready(main):  # what it printed so far
        os.read(main, 65536)
    os.close(main)  # the terminal hangs up: SIGHUP to its session
    assert driver.wait(timeout=120) == 130
    shown = cli("show", path, cwd=tmp_path)
    assert "state: interrupted (the terminal closed): " in shown.stdout and "of 8 trials finished" in shown.stdout
    assert "(of 8 planned)" in shown.stdout

    resumed = cli("resume", path, "--quiet", cwd=tmp_path, env={"RAY_ADDRESS": ray_cluster})
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[0].startswith("8 trials, 0 errored; experiment in ")
    assert len(resumed.stdout.splitlines()) == 2 and "[00:" not in resumed.stdout  # the summary alone
    assert "state: finished" in cli("show", path, cwd=tmp_path).stdout


def select_ready(descriptor: int) -> bool:
    import select

    return bool(select.select([descriptor], [], [], 0.1)[0])


CHATTY = """
import time
import raytune_hpo as hpo

def train(config):
    for epoch in range(3):
        print("a line the trial prints", flush=True)
        time.sleep(0.3)  # Ray's log monitor forwards what workers print about every 0.1 s
        hpo.report(loss=config["x"] + epoch)
"""


def test_quiet_prints_the_summary_alone_and_not_what_trials_print(ray_cluster, tmp_path):
    """``--quiet``: the summary alone, the trials' own output left in Ray's worker logs (where a
    worker stopped by SIGTERM may also print Ray's traceback of its exit); without it, what the
    trials print reaches the terminal as Ray forwards it."""
    from tests.helpers import cli, write

    (tmp_path / "chatty.py").write_text(CHATTY)
    settings = {"trainable": "chatty:train", "metric": "loss", "num_samples": 2, "seed": 0,
                "space": {"x": {"uniform": [0, 1]}}}
    quiet = cli("run", write(tmp_path, {**settings, "name": "quiet"}), "--quiet", cwd=tmp_path,
                env={"RAY_ADDRESS": ray_cluster})
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and len(quiet.stdout.splitlines()) == 2, quiet.stdout + quiet.stderr
    told = cli("run", write(tmp_path, {**settings, "name": "told"}), cwd=tmp_path, env={"RAY_ADDRESS": ray_cluster})
    assert told.returncode == 0, told.stderr
    assert "a line the trial prints" in told.stdout + told.stderr
