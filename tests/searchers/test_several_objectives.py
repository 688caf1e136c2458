"""Optuna's samplers with several objectives and constraints (``nsga2``, ``nsga3``, ``optuna``,
``gp``) in real experiments: the Optuna study inside the searcher holds every trial's values
(those of its last report) and constraint values (the largest over its reports), and Optuna's
feasibility agrees with :class:`~raytune_hpo._objectives.Objectives`; the searchers that take
one objective are refused in one line naming those that take several."""

from __future__ import annotations

import pytest

import raytune_hpo as hpo
from raytune_hpo._objectives import Objectives
from raytune_hpo.runner import execute, plan
from raytune_hpo.searchers import REGISTRY as SEARCHERS
from tests.helpers import BOWL_SPACE, build_searcher, multi_fidelity_bowl

SPACE = {"x": hpo.uniform(0.0, 1.0), "width": hpo.randint(8, 65), "act": hpo.choice(["relu", "tanh"]), "epochs": 2}
CONSTRAINTS = {"mem": ("<=", 3.0)}


def loss_against_size(config):
    """Two objectives, and a memory metric over its bound at the first epoch only for widths
    from 40 (40/16 + 0.6 > 3), at every epoch from 48: infeasible when any report was."""
    for epoch in range(1, config["epochs"] + 1):
        hpo.report(
            loss=(config["x"] - 0.3) ** 2 + 1.0 / epoch + (config["act"] == "tanh") * 0.1,
            size=float(config["width"]),
            mem=config["width"] / 16 + (0.6 if epoch == 1 else 0.0),
        )


OPTIONS = {
    "nsga2": {"population_size": 4},
    "nsga3": {"population_size": 4},
    "optuna": {"n_initial_points": 4},
    "gp": {"n_initial_points": 4},
}


def test_the_optuna_samplers_are_flagged_for_several_objectives_and_native_constraints():
    able = {name for name, s in SEARCHERS.items() if s.several_objectives}
    assert able == {"random", "grid", "tpe", "optuna", "gp", "nsga2", "nsga3"}
    assert {name for name, s in SEARCHERS.items() if s.native_constraints} == {"tpe", "optuna", "gp", "nsga2", "nsga3"}


@pytest.mark.parametrize("name", ["nsga2", "nsga3", "optuna", "gp"])
def test_every_trial_reaches_the_study_with_its_values_and_constraints(ray_cluster, storage, name):
    from optuna.study._constrained_optimization import _get_feasible_trials
    from optuna.trial import TrialState

    planned = plan(
        loss_against_size, SPACE, metric=["loss", "size"], mode=["min", "max"], constraints=CONSTRAINTS,
        searcher=name, scheduler="fifo", num_samples=8, max_t=2, max_concurrent=2, seed=0,
        storage=storage, name="mo", searcher_options=OPTIONS[name],
    )
    res = execute(planned, verbose=0)
    assert res.num_errors == 0 and len(res.trials) == 8
    searcher = planned.search_alg.searcher  # under the ConcurrencyLimiter
    study = searcher._ot_study
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    assert len(study.trials) == 8
    objectives = Objectives.of(["loss", "size"], ["min", "max"], CONSTRAINTS)
    feasible = 0
    for trial in res.trials:
        reports = trial.history
        assert len(reports) == 2
        told = study.trials[searcher._ot_trials[trial.trial_id].number]
        assert told.state == TrialState.COMPLETE
        assert told.values == [reports[-1]["loss"], reports[-1]["size"]]  # the last report's
        # the largest over its reports, in Optuna's convention (<= 0 feasible)
        assert told.constraints == {"mem": pytest.approx(max(r["mem"] for r in reports) - 3.0)}
        _, violation = objectives.point(reports)
        assert (_get_feasible_trials([told]) == [told]) == (violation == 0), (trial.config, reports)
        feasible += violation == 0
    assert 0 < feasible < 8, "the experiment should hold feasible and infeasible trials"


def test_without_constraints_no_trial_carries_any():
    from optuna.trial import TrialState

    from tests.helpers import build_searcher

    searcher = build_searcher("nsga2", SPACE, population_size=4)
    for i in range(5):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": config["x"], "training_iteration": 1})
    trials = searcher.searcher._ot_study.trials
    assert all(t.state == TrialState.COMPLETE and not t.constraints for t in trials)


def test_a_trial_without_every_objective_is_told_pruned():
    from optuna.trial import TrialState

    from raytune_hpo.searchers import SearcherRequest, get_searcher
    from raytune_hpo.space import Space

    objectives = Objectives.of(["loss", "size"], ["min", "max"], CONSTRAINTS)
    searcher, _ = get_searcher("optuna").build(
        SearcherRequest("optuna", Space(SPACE), "loss", "min", seed=0, objectives=objectives)
    )
    searcher.suggest("a")
    searcher.on_trial_result("a", {"loss": 1.0, "mem": 2.0, "training_iteration": 1})
    searcher.on_trial_complete("a", {"loss": 1.0, "mem": 2.0, "training_iteration": 1})
    searcher.suggest("b")
    searcher.on_trial_complete("b", {"loss": 0.5, "size": 3.0, "training_iteration": 1})
    a, b = searcher._ot_study.trials
    assert a.state == TrialState.PRUNED and a.constraints == {"mem": -1.0}
    assert b.state == TrialState.COMPLETE and b.values == [0.5, 3.0]
    # a constrained metric never reported: infeasible, by a finite amount
    assert b.constraints["mem"] > 0 and b.constraints["mem"] < float("inf")


def test_a_searcher_of_one_objective_is_refused_naming_those_that_take_several(storage):
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(loss_against_size, SPACE, metric=["loss", "size"], mode=["min", "min"], searcher="hyperopt",
                storage=storage)
    assert str(e.value) == (
        "searcher: 'hyperopt' optimises one objective, and metric has 2; the searchers that take several "
        "are random, grid, tpe, optuna, gp, nsga2, nsga3"
    )
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("options", "message"), [
    ({"pop_size": 4}, "searcher_options.pop_size: not an option of searcher 'nsga2'; valid:"),
    ({"n_initial_points": 4}, "searcher_options.n_initial_points: not an option of searcher 'nsga2'; valid:"),
    ({"constraints_func": print}, "searcher_options.constraints_func: not an option of searcher 'nsga2'; valid:"),
    ({"population_size": 1}, "searcher_options.population_size: searcher 'nsga2' refused {'population_size': 1} "
                             "(`population_size` must be greater than or equal to 2.); give a value it accepts"),
])
def test_bad_nsga2_options_are_one_line(storage, options, message):
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(loss_against_size, SPACE, metric=["loss", "size"], mode=["min", "min"], searcher="nsga2",
                searcher_options=options, storage=storage)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
    if "valid:" in message:
        assert "population_size" in str(e.value) and "crossover_prob" in str(e.value)


def test_native_constraints_need_optuna_5(storage, monkeypatch):
    import optuna

    monkeypatch.delattr(optuna.trial.Trial, "set_constraint")
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", searcher="optuna", constraints={"loss": ("<=", 1)},
                scheduler="fifo", storage=storage)
    assert str(e.value).startswith("constraints: searcher 'optuna' needs optuna>=5.0 for them (installed: ")


@pytest.mark.parametrize("name", ["nsga2", "nsga3"])
def test_a_generation_is_20_trials_unless_told(name):
    assert build_searcher(name).searcher._sampler._population_size == 20
    assert build_searcher(name, population_size=8).searcher._sampler._population_size == 8
