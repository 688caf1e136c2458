"""The README's first command: the quickstart (TPE + ASHA, 30 trials on the digits CNN)."""

from __future__ import annotations

from experiments import quickstart


def test_quickstart_reaches_95_percent_validation_accuracy(ray_cluster, storage, capsys):
    res = quickstart.main(["--storage", storage, "--name", "quickstart"])
    assert res.num_errors == 0 and len(res.trials) == 30
    assert res.best_metrics["val_accuracy"] >= 0.95
    assert res.best_checkpoint["epoch"] == res.best_metrics["training_iteration"] - 1
    assert "best configuration: {" in capsys.readouterr().out
    # ASHA stopped the poor trials early
    assert sum(t.iterations < 20 for t in res.trials) >= 10


def test_ctrl_c_on_the_quickstart_is_a_clean_stop_that_resume_finishes(ray_cluster, tmp_path):
    """README's example interrupted as a new user would: one line saying how far it got and how
    to go on, exit status 130, no traceback; ``show`` says it; ``resume --quiet`` finishes it."""
    import os
    import signal
    import subprocess
    import sys

    from tests.helpers import cli, wait_for_ended

    example = os.path.join(os.path.dirname(quickstart.__file__), "quickstart.py")
    storage = str(tmp_path / "runs")
    path = os.path.join(storage, "stopped")
    driver = subprocess.Popen([sys.executable, example, "--samples", "6", "--storage", storage, "--name", "stopped"],
                              cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "RAY_ADDRESS": ray_cluster})
    wait_for_ended(path, 1)
    driver.send_signal(signal.SIGINT)
    out, err = driver.communicate(timeout=180)

    assert driver.returncode == 130 and "Traceback" not in err and "Tuner.restore" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted (Ctrl-C): ") and " of 6 trials finished" in last
    assert last.endswith(f"finish it with: raytune-hpo resume {path} (or hpo.resume({path!r}) in Python)")
    assert f"state: {last}" in cli("show", path, cwd=tmp_path).stdout

    resumed = cli("resume", path, "--quiet", cwd=tmp_path, env={"RAY_ADDRESS": ray_cluster})
    assert resumed.returncode == 0 and resumed.stdout.startswith(f"6 trials, 0 errored; experiment in {path}")
    assert "[00:" not in resumed.stdout
