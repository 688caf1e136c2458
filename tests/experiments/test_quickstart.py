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
