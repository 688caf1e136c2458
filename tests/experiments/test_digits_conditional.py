"""experiments/digits_conditional: the optimizer and depth branches build what the configuration
says, the file's space is the module's, and the file runs from the command line with every
trial holding only the options it drew."""

from __future__ import annotations

import os

import torch
import yaml

from experiments import digits_conditional
from raytune_hpo.cli import main
from raytune_hpo.config import parse_space
from raytune_hpo.results import load
from raytune_hpo.space import Space

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENT_FILE = os.path.join(ROOT, "experiments", "digits_conditional.yaml")


def test_each_branch_builds_its_optimizer_and_network(reports):
    model = digits_conditional.build_model([64, 32])
    assert [m.out_features for m in model if isinstance(m, torch.nn.Linear)] == [64, 32, 10]
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    sgd, settings = digits_conditional.build_optimizer(model.parameters(), {"name": "sgd", "lr": 0.1, "momentum": 0.9})
    assert isinstance(sgd, torch.optim.SGD) and settings == {"lr": 0.1, "momentum": 0.9}
    adam, settings = digits_conditional.build_optimizer(model.parameters(), {"name": "adam", "lr": 1e-3, "beta1": 0.85})
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["betas"] == (0.85, 0.999)
    digits_conditional.train({"optimizer": {"name": "adam", "lr": 3e-3, "beta1": 0.9},
                              "layers": {"n": 1, "width": [32]}, "batch_size": 64, "epochs": 2})
    assert len(reports) == 2 and all(0 <= r["val_accuracy"] <= 1 for r in reports)


def test_the_files_space_is_the_modules():
    with open(EXPERIMENT_FILE) as f:
        space = Space(parse_space(yaml.safe_load(f)["space"]))
    assert space.params == Space(digits_conditional.SPACE).params
    assert len(space.branches()) == 6


def test_the_experiment_file_runs_from_the_cli_with_only_the_options_drawn(ray_cluster, tmp_path, capsys):
    settings = {"num_samples": 12, "space.epochs": 3, "scheduler.max_t": 3, "storage": tmp_path,
                "searcher.n_initial_points": 6}
    code = main(["run", EXPERIMENT_FILE, "--quiet", *(f"--set={k}={v}" for k, v in settings.items())])
    assert code == 0, capsys.readouterr().out
    results = load(os.path.join(tmp_path, "digits-conditional"))
    assert results.num_errors == 0 and len(results.trials) == 12
    for trial in results.trials:
        optimizer, layers = trial.config["optimizer"], trial.config["layers"]
        assert set(optimizer) == ({"name", "lr", "momentum"} if optimizer["name"] == "sgd" else {"name", "lr", "beta1"})
        assert len(layers["width"]) == layers["n"]
    assert results.best_metrics["val_accuracy"] > 0.5
