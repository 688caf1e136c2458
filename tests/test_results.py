"""Results read back from the experiment directory alone, in a process that never starts Ray."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest
import torch

import raytune_hpo as hpo


def curve(config: dict) -> None:
    for epoch in range(config["epochs"]):
        loss = config["x"] + 1.0 / (epoch + 1) if epoch < 3 else config["x"] + 0.5  # best at epoch 3
        if config["x"] > 0.9 and epoch == 1:
            loss = math.nan  # never chosen as best
        hpo.report(loss=loss, acc=1 - loss, checkpoint={"epoch": epoch, "w": torch.full((2,), float(epoch))})


@pytest.fixture(scope="module")
def finished(ray_cluster, tmp_path_factory):
    storage = str(tmp_path_factory.mktemp("results") / "runs")
    return hpo.run(curve, {"x": hpo.grid([0.05, 0.5, 0.95]), "epochs": 6, "nested": {"k": hpo.choice(["a"])}},
                   metric="loss", mode="min", searcher="grid", storage=storage, name="exp", verbose=0)


def test_best_is_the_best_report_over_all_iterations(finished):
    assert finished.best_config == {"x": 0.05, "epochs": 6, "nested": {"k": "a"}}
    assert finished.best_metrics["training_iteration"] == 3
    assert finished.best_metrics["loss"] == pytest.approx(0.05 + 1 / 3)
    assert "config" not in finished.best_metrics
    # the checkpoint saved with that report, though later ones were saved after it
    assert finished.best_checkpoint["epoch"] == 2
    assert torch.equal(finished.best_checkpoint["w"], torch.full((2,), 2.0))


def test_dataframe_has_a_row_per_trial_best_first(finished):
    frame = finished.dataframe()
    assert list(frame["config.x"]) == [0.05, 0.5, 0.95]
    assert {"trial_id", "status", "iterations", "error", "config.epochs", "config.nested.k",
            "last.loss", "last.acc", "best.loss"} <= set(frame.columns)
    assert list(frame["iterations"]) == [6, 6, 2]  # stopped at its NaN (tests/test_faults.py)
    assert frame["best.loss"].iloc[0] == pytest.approx(0.05 + 1 / 3)
    assert set(frame["status"]) == {"TERMINATED"}


def test_load_works_where_ray_was_never_started(finished):
    script = textwrap.dedent(f"""
        import json, sys
        import raytune_hpo as hpo
        res = hpo.load({finished.path!r})
        out = {{"config": res.best_config, "loss": res.best_metrics["loss"],
               "epoch": res.best_checkpoint["epoch"], "rows": len(res.dataframe()),
               "errors": res.num_errors, "ray_imported": "ray" in sys.modules}}
        print(json.dumps(out))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    assert out == {"config": finished.best_config, "loss": finished.best_metrics["loss"],
                   "epoch": 2, "rows": 3, "errors": 0, "ray_imported": False}


def test_load_of_a_directory_that_is_no_experiment_says_so(tmp_path):
    with pytest.raises(hpo.ConfigError, match="is not a raytune-hpo experiment directory"):
        hpo.load(str(tmp_path))
    with pytest.raises(hpo.ConfigError, match="does not exist"):
        hpo.load(str(tmp_path / "nowhere"))
