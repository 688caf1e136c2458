"""Conditional spaces run with Ray, with each searcher that takes them: every trial's
configuration holds the chosen options' parameters and no other (so does what the trial itself
received: it reports what it saw), and ``random`` and ``grid`` reach every branch."""

from __future__ import annotations

import math

import pytest

import raytune_hpo as hpo
from raytune_hpo.searchers import REGISTRY as SEARCHERS
from raytune_hpo.tracking._report import write_report
from tests.test_space import CONDITIONAL, check_conditional_config


def conditional_trainable(config: dict) -> None:
    """A loss from whichever branch was drawn; the trial reports the keys it received."""
    optimizer = config["optimizer"]
    for t in range(1, config["epochs"] + 1):
        hpo.report(
            loss=(config["x"] - 0.3) ** 2 + math.log10(optimizer["lr"]) / 10 + sum(config["layers"]["width"]) / 1e3 + 1 / t,
            optimizer_keys=",".join(sorted(optimizer)),
            widths=len(config["layers"]["width"]),
        )


# Options that make each searcher leave its random start within the 16 trials.
OPTIONS = {"random": None, "dehb": {"population_size": 4}, "evolution": {"population_size": 6},
           "pso": {"popsize": 6}}


@pytest.mark.parametrize("searcher", sorted(n for n, s in SEARCHERS.items() if s.conditional and n != "grid"))
def test_every_trial_holds_only_the_parameters_of_the_options_drawn(ray_cluster, storage, searcher):
    res = hpo.run(conditional_trainable, CONDITIONAL, metric="loss", searcher=searcher,
                  scheduler=(SEARCHERS[searcher].schedulers or ("asha",))[0], max_t=3, num_samples=16, seed=0,
                  storage=storage, name="conditional", verbose=0,
                  searcher_options=OPTIONS.get(searcher, {"n_initial_points": 6}))
    assert res.num_errors == 0 and len(res.trials) == 16
    drawn = set()
    for trial in res.trials:
        drawn.add(check_conditional_config(trial.config))
        first = trial.history[0]  # what the trainable received
        assert first["optimizer_keys"] == ",".join(sorted(trial.config["optimizer"]))
        assert first["widths"] == trial.config["layers"]["n"]
    if searcher == "random":  # every combination of branches, in 16 trials
        assert drawn == {(0, 0), (0, 1), (1, 0), (1, 1)}
    else:  # a learner goes where the loss is lower, after a random start of a few trials
        assert len(drawn) >= 2
    frame = res.dataframe()
    sgd = frame["config.optimizer.name"] == "sgd"
    assert frame.loc[sgd, "config.optimizer.beta1"].isna().all() and frame.loc[~sgd, "config.optimizer.momentum"].isna().all()
    with open(write_report(res)) as f:  # parameters missing from some trials are plotted where present
        assert "optimizer.beta1" in f.read()


GRID_CONDITIONAL = {
    "optimizer": hpo.choice([{"name": "sgd", "momentum": hpo.choice([0.5, 0.9])}, {"name": "adam"}]),
    "depth": hpo.choice([{"n": 1, "width": [hpo.choice([8, 16])]}, {"n": 2, "width": [hpo.choice([8, 16])] * 2}]),
}


def report_config(config: dict) -> None:
    hpo.report(loss=float(config["depth"]["n"]))


def test_grid_runs_every_combination_of_branches_and_the_choices_inside_them(ray_cluster, storage):
    res = hpo.run(report_config, GRID_CONDITIONAL, metric="loss", searcher="grid", num_samples=1, storage=storage,
                  name="grid", verbose=0)
    assert res.num_errors == 0
    configs = sorted(repr(t.config) for t in res.trials)
    expected = sorted(
        repr({"optimizer": optimizer, "depth": {"n": len(width), "width": width}})
        for optimizer in ({"name": "sgd", "momentum": 0.5}, {"name": "sgd", "momentum": 0.9}, {"name": "adam"})
        for width in ([8], [16], [8, 8], [8, 16], [16, 8], [16, 16])
    )
    assert configs == expected  # 3 x 6 = 18, each once
