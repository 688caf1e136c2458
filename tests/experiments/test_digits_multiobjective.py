"""experiments/digits_multiobjective: validation loss against parameter count, run from its
YAML file through the command line, both objectives in every report of every trial."""

from __future__ import annotations

import os

import torch

from experiments import digits_multiobjective
from raytune_hpo.cli import main
from raytune_hpo.results import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENT_FILE = os.path.join(ROOT, "experiments", "digits_multiobjective.yaml")


def test_the_parameter_count_is_the_networks(reports):
    digits_multiobjective.train({"lr": 0.1, "momentum": 0.9, "width": 16, "depth": 2, "batch_size": 64, "epochs": 2})
    # 64·16 + 16, then 16·16 + 16, then 16·10 + 10
    assert [r["n_params"] for r in reports] == [1040 + 272 + 170] * 2
    assert all(r["val_loss"] > 0 and 0 <= r["val_accuracy"] <= 1 for r in reports)
    model = digits_multiobjective.build_model(256, 3)
    assert digits_multiobjective.parameter_count(model) == 150_794
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


def test_the_experiment_file_runs_from_the_cli_with_both_objectives_in_every_report(ray_cluster, tmp_path, capsys):
    # nsga2 proposes, MO-ASHA stops at the rung of 1 epoch: some trials end there, others at 3.
    settings = {"num_samples": 8, "space.epochs": 3, "scheduler.max_t": 3, "storage": tmp_path}
    code = main(["run", EXPERIMENT_FILE, "--quiet", *(f"--set={k}={v}" for k, v in settings.items())])
    assert code == 0, capsys.readouterr().out
    results = load(os.path.join(tmp_path, "digits-multiobjective"))
    assert results.metric == ["val_loss", "n_params"] and results.num_errors == 0 and len(results.trials) == 8
    lengths = []
    for trial in results.trials:
        config = trial.config
        expected = digits_multiobjective.parameter_count(
            digits_multiobjective.build_model(config["width"], config["depth"])
        )
        assert [r["n_params"] for r in trial.history] == [expected] * len(trial.history)
        assert all(isinstance(r["val_loss"], float) and r["val_loss"] > 0 for r in trial.history)
        lengths.append(len(trial.history))
    assert set(lengths) == {1, 3}  # stopped at the first rung, or run to the end
    front = results.pareto_front()
    assert len(front) >= 1 and (front["n_params"] <= 40_000).all()
