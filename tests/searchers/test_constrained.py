"""Constraints for the searchers that take none of their own (raytune_hpo/searchers/_constrained.py):
an infeasible trial is handed to the searcher with its objective worse than every value seen
so far, while what is written to disk keeps the true values; the wrapper is placed exactly
where it should be, and is otherwise the searcher it wraps (hooks, state, pickling)."""

from __future__ import annotations

import math
import pickle

import pytest
from ray import cloudpickle

import raytune_hpo as hpo
from raytune_hpo._contract import BracketFollower, RungLearner
from raytune_hpo._objectives import Objectives
from raytune_hpo.runner import execute, plan
from raytune_hpo.searchers import REGISTRY as SEARCHERS
from raytune_hpo.searchers._constrained import ConstrainedSearcher
from tests.helpers import BOWL_SPACE, build_searcher, multi_fidelity_bowl

LOSS_UNDER_MEM = Objectives.of("loss", "min", {"mem": ("<=", 2.0)})


def worst(seen: list[float], violation: float) -> float:
    """The documented rule, in minimisation form: high + spread * (1 + v / (1 + v))."""
    high, low = max(seen), min(seen)
    spread = high - low if high > low else 1.0
    return high + spread * (1 + (1.0 if math.isinf(violation) else violation / (1 + violation)))


def test_an_infeasible_result_is_handed_worse_than_every_value_seen():
    wrapper = ConstrainedSearcher(build_searcher("evolution", population_size=50), LOSS_UNDER_MEM)
    assert wrapper.handed("a", {"loss": 1.0, "mem": 1.0}) == {"loss": 1.0, "mem": 1.0}  # feasible: as it is
    assert wrapper.handed("b", {"loss": 3.0, "mem": 2.0})["loss"] == 3.0  # on the bound: feasible
    # violates by 1: between high + spread and high + 2 spread, seen values 0.5..3
    assert wrapper.handed("c", {"loss": 0.5, "mem": 3.0})["loss"] == worst([1.0, 3.0, 0.5], 1.0) == 6.75
    # infeasible once, infeasible for good, by its largest violation
    assert wrapper.handed("c", {"loss": 0.4, "mem": 1.0})["loss"] == worst([1.0, 3.0, 0.5, 0.4], 1.0)
    # a constrained metric missing violates by infinity: the worst of all
    assert wrapper.handed("d", {"loss": 0.5})["loss"] == worst([1.0, 3.0, 0.5, 0.4], math.inf)


def test_a_maximised_objective_is_handed_below_every_value_seen():
    wrapper = ConstrainedSearcher(
        build_searcher("evolution", mode="max"), Objectives.of("loss", "max", {"mem": (">=", 1.0)})
    )
    wrapper.handed("a", {"loss": 2.0, "mem": 1.0})
    handed = wrapper.handed("b", {"loss": 5.0, "mem": 0.0})["loss"]
    assert handed == -worst([-2.0, -5.0], 1.0) == 0.5 - 3.0


def test_the_searcher_learns_the_worst_value_and_the_caller_keeps_the_true_one():
    searcher = build_searcher("evolution", population_size=50)
    wrapper = ConstrainedSearcher(searcher, LOSS_UNDER_MEM)
    reports = [{"loss": 0.2, "mem": 1.0}, {"loss": 0.1, "mem": 5.0}, {"loss": 0.3, "mem": 0.0}]
    for i, report in enumerate(reports):
        wrapper.suggest(f"t{i}")
        wrapper.on_trial_result(f"t{i}", report)
        wrapper.on_trial_complete(f"t{i}", report)
    assert [m["score"] for m in searcher.searcher._population] == [0.2, worst([0.2, 0.1], 3.0), 0.3]
    assert reports[1] == {"loss": 0.1, "mem": 5.0}  # the caller's result untouched
    assert wrapper.violations == {}  # ended trials forgotten


@pytest.mark.parametrize("name", ["bohb", "dehb", "hyperopt", "evolution"])
def test_the_wrapper_has_the_hooks_of_the_searcher_it_wraps(name):
    inner = build_searcher(name)
    wrapper = ConstrainedSearcher(inner, LOSS_UNDER_MEM)
    for protocol in (RungLearner, BracketFollower):
        assert isinstance(wrapper, protocol) == isinstance(inner, protocol)
    if not hasattr(inner, "searcher"):  # not under a ConcurrencyLimiter (which has on_pause itself)
        assert isinstance(wrapper, RungLearner) == SEARCHERS[name].learns_from_rungs
        assert isinstance(wrapper, BracketFollower) == SEARCHERS[name].follows_brackets
    assert wrapper.metric == "loss" and wrapper.mode == "min"
    again = pickle.loads(cloudpickle.dumps(wrapper))  # as Ray keeps it in tuner.pkl
    assert type(again.searcher) is type(inner) and again.objectives == LOSS_UNDER_MEM


def test_state_saved_and_restored_as_ray_does_it(tmp_path):
    from ray.tune.search import SearchGenerator

    def drive(generator, start, count):
        configs = []
        for i in range(start, start + count):
            config = generator.searcher.suggest(f"t{i}")
            configs.append(config)
            report = {"loss": config["x"], "mem": 4 * config["x"], "training_iteration": 1}
            generator.on_trial_result(f"t{i}", report)
            generator.on_trial_complete(f"t{i}", report)
        return configs

    def fresh(seed):
        return SearchGenerator(ConstrainedSearcher(build_searcher("evolution", seed=seed, population_size=4),
                                                   LOSS_UNDER_MEM))

    first = fresh(1)
    drive(first, 0, 6)
    first.save_to_dir(str(tmp_path), session_str="s")
    again = fresh(2)
    again.restore_from_dir(str(tmp_path))
    assert (again.searcher.worst.low, again.searcher.worst.high) == (first.searcher.worst.low, first.searcher.worst.high)
    assert drive(again, 6, 6) == drive(first, 6, 6)


@pytest.mark.parametrize("name", [s.name for s in SEARCHERS.values() if s.schedulers is None])
def test_the_wrapper_is_placed_exactly_around_learners_without_native_constraints(storage, name):
    planned = plan(multi_fidelity_bowl, BOWL_SPACE if name != "grid" else {"x": hpo.grid([0.1, 0.2])},
                   metric="loss", constraints={"mem": ("<=", 1)}, searcher=name, scheduler="fifo",
                   storage=storage, dry_run=True)
    info = SEARCHERS[name]
    assert isinstance(planned.search_alg, ConstrainedSearcher) == (info.learns and not info.native_constraints)
    unconstrained = plan(multi_fidelity_bowl, BOWL_SPACE if name != "grid" else {"x": hpo.grid([0.1, 0.2])},
                         metric="loss", searcher=name, scheduler="fifo", storage=storage, dry_run=True)
    assert not isinstance(unconstrained.search_alg, ConstrainedSearcher)


def accuracy_under_memory(config):
    """Maximised accuracy; memory over its bound at the first epoch for x > 0.5, at the second
    for x > 0.7: infeasible when any report was."""
    for epoch in (1, 2):
        hpo.report(acc=config["x"] * epoch, mem=config["x"] + (0.5 if epoch == 1 else 0.3))


def test_in_an_experiment_hyperopt_learns_worst_values_and_result_json_keeps_the_true_ones(ray_cluster, storage):
    planned = plan(accuracy_under_memory, {"x": hpo.uniform(0.0, 1.0)}, metric="acc", mode="max",
                   constraints={"mem": ("<=", 1.0)}, searcher="hyperopt", scheduler="fifo", num_samples=8, max_t=2,
                   max_concurrent=1, seed=3, storage=storage, name="constrained")
    res = execute(planned, verbose=0)
    assert res.num_errors == 0 and len(res.trials) == 8
    tpe = planned.search_alg.searcher.searcher  # ConstrainedSearcher > ConcurrencyLimiter > hyperopt
    learned = [t["result"]["loss"] for t in sorted(tpe._hpopt_trials.trials, key=lambda t: t["tid"])]
    seen: list[float] = []  # minimisation form: -acc
    infeasible = 0
    for trial, loss in zip(sorted(res.trials, key=lambda t: t.name), learned):  # one at a time, in order
        reports = trial.history
        assert [r["acc"] for r in reports] == [trial.config["x"] * e for e in (1, 2)]  # the true values on disk
        seen += [-r["acc"] for r in reports]
        violation = max(max(0.0, r["mem"] - 1.0) for r in reports)
        if violation == 0:
            assert loss == -reports[-1]["acc"]
        else:
            infeasible += 1
            assert loss == pytest.approx(worst(seen, violation))
            assert loss > max(seen)
    assert 0 < infeasible < 8, [t.config["x"] for t in res.trials]
