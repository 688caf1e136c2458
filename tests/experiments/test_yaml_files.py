"""Every experiment file in experiments/ runs, shrunk with --set, with no errored trial."""

from __future__ import annotations

import glob
import os

import pytest

from raytune_hpo.cli import main
from raytune_hpo.results import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = sorted(glob.glob(os.path.join(ROOT, "experiments", "*.yaml")))


def test_the_first_combinations_a_user_would_try_are_there():
    names = {os.path.basename(f) for f in FILES}
    assert {"digits-tpe-asha.yaml", "digits-bohb.yaml", "digits-pbt.yaml", "autoencoder-hyperband.yaml",
            "mnist-optuna-median.yaml"} <= names
    assert sum(n.startswith("synthetic-") for n in names) >= 3


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_experiment_file_runs_with_no_error(ray_cluster, tmp_path, path, capsys):
    code = main(["run", path, "--quiet", "--set", "num_samples=4", "--set", f"storage={tmp_path}"])
    out = capsys.readouterr().out
    assert code == 0, out
    (experiment,) = os.listdir(tmp_path)
    results = load(os.path.join(tmp_path, experiment))
    assert results.num_errors == 0 and len(results.trials) == 4
    if results.objectives.several:  # no single best: a front
        assert len(results.pareto_front()) >= 1
    else:
        assert results.best_metrics is not None
