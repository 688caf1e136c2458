"""``sha``: synchronous successive halving. The rung arithmetic and a bracket's decisions
without Ray; then a real run whose rungs hold exactly the promoted counts."""

from __future__ import annotations

import collections
import math

import pytest

import raytune_hpo as hpo
from raytune_hpo.schedulers._rungs import sha_rungs
from raytune_hpo.schedulers._sha import Bracket


@pytest.mark.parametrize(("args", "rungs"), [
    ((27, 1, 3, 9), [(27, 1), (9, 3), (3, 9)]),
    ((27, 1, 3, 27), [(27, 1), (9, 3), (3, 9), (1, 27)]),
    ((27, 1, 3, 10), [(27, 1), (9, 3), (3, 9), (1, 10)]),   # max_t is the last rung
    ((16, 2, 2, 16), [(16, 2), (8, 4), (4, 8), (2, 16)]),
    ((10, 1, 3, 9), [(10, 1), (3, 3), (1, 9)]),
    ((5, 1, 3, 27), [(5, 1), (1, 3), (1, 9), (1, 27)]),      # at least one trial goes on
    ((8, 9, 3, 9), [(8, 9)]),                                # grace = max_t: no early stop
    ((9, 1, 2.5, 10), [(9, 1), (3, 2), (1, 6), (1, 10)]),     # r_i = floor(grace · η^i)
])
def test_rungs(args, rungs):
    assert sha_rungs(*args) == rungs


def run_bracket(bracket: Bracket, curves: dict[str, list[float]]) -> dict[str, int]:
    """Drive a bracket as the scheduler does, one iteration of every runnable trial at a
    time; return each trial's iterations when it stopped."""
    for t in curves:
        bracket.add(t)
    at = {t: 0 for t in curves}
    done: dict[str, int] = {}
    while len(done) < len(curves):
        progressed = False
        for t, curve in curves.items():
            if t in done or bracket.waiting(t):
                continue
            at[t] += 1
            progressed = True
            if bracket.report(t, at[t], -curve[at[t] - 1]) == "done":
                done[t] = at[t]
        promoted, stopped = bracket.decide()
        for t in stopped:
            done[t] = at[t]
        assert progressed or promoted or stopped, "the bracket is stuck"
    return done


def test_a_rung_waits_until_full_then_promotes_the_top_third():
    # 27 trials with losses x_k + 1/t: trial k is k-th best at every rung.
    curves = {f"t{k:02d}": [k / 100 + 1 / t for t in range(1, 10)] for k in range(27)}
    stops = run_bracket(Bracket(sha_rungs(27, 1, 3, 9), 3), curves)
    assert collections.Counter(stops.values()) == {1: 18, 3: 6, 9: 3}
    assert [t for t, i in stops.items() if i == 9] == ["t00", "t01", "t02"]
    assert sorted(t for t, i in stops.items() if i >= 3) == [f"t{k:02d}" for k in range(9)]


def test_rankings_use_the_score_at_the_rung_not_later_ones():
    # b is worse than a at iteration 1, better afterwards: a goes on (2 trials, η 2).
    bracket = Bracket(sha_rungs(2, 1, 2, 4), 2)
    stops = run_bracket(bracket, {"a": [1.0, 9.0, 9.0, 9.0], "b": [2.0, 0.0, 0.0, 0.0]})
    assert stops == {"a": 4, "b": 1}


def test_nothing_is_decided_before_the_bracket_is_full_or_closed():
    bracket = Bracket([(3, 1), (1, 2)], 3)
    bracket.add("a")
    bracket.add("b")
    assert bracket.report("a", 1, 0.0) == "wait" and bracket.report("b", 1, -1.0) == "wait"
    assert bracket.decide() == ([], [])  # a third trial is due
    bracket.closed = True  # the search is finished: only two will ever come
    assert bracket.counts() == [2, 1] and bracket.decide() == (["a"], ["b"])


def test_a_trial_that_ends_early_no_longer_holds_the_rung():
    bracket = Bracket([(3, 2), (1, 4)], 3)
    for t in "abc":
        bracket.add(t)
    assert bracket.report("a", 1, 0.0) == "continue"
    assert bracket.report("a", 2, 0.0) == "wait" and bracket.report("b", 2, 1.0) == "wait"
    assert bracket.decide() == ([], [])
    bracket.end("c")  # errored, or returned before iteration 2
    assert bracket.decide() == (["b"], ["a"])


def test_nan_scores_rank_last():
    from raytune_hpo.schedulers._common import Objective

    objective = Objective()
    objective.set_search_properties("loss", "min")
    bracket = Bracket([(2, 1), (1, 2)], 2)
    bracket.add("a")
    bracket.add("b")
    bracket.report("a", 1, objective.score(float("nan")))
    bracket.report("b", 1, objective.score(5.0))
    assert bracket.decide() == (["b"], ["a"])
    assert math.isinf(objective.score("text"))


def curve(config: dict) -> None:
    """Loss x + 1/t over 9 iterations, resumed from its checkpoint when promoted."""
    state = hpo.load_checkpoint()
    for t in range((state or {"t": 0})["t"] + 1, 10):
        hpo.report(loss=config["x"] + 1.0 / t, checkpoint={"t": t})


def test_rungs_hold_exactly_the_promoted_counts(ray_cluster, storage):
    xs = [round(0.037 * ((7 * k) % 27), 3) for k in range(27)]  # 27 distinct values, shuffled
    res = hpo.run(curve, {"x": hpo.grid(xs)}, metric="loss", searcher="grid", scheduler="sha",
                  max_t=9, resources={"cpu": 0.5}, storage=storage, name="sha", verbose=0,
                  scheduler_options={"grace_period": 1, "reduction_factor": 3})
    assert res.num_errors == 0 and len(res.trials) == 27
    assert all(t.status == "TERMINATED" for t in res.trials)
    iterations = {t.config["x"]: t.iterations for t in res.trials}
    reached = {r: sum(i >= r for i in iterations.values()) for r in (1, 3, 9)}
    assert reached == {1: 27, 3: 9, 9: 3}
    assert collections.Counter(iterations.values()) == {1: 18, 3: 6, 9: 3}
    assert sorted(x for x, i in iterations.items() if i >= 3) == sorted(xs)[:9]
    assert sorted(x for x, i in iterations.items() if i == 9) == sorted(xs)[:3]
    assert res.best_config["x"] == min(xs)
    for t in res.trials:  # a promoted trial went on from where it paused
        assert [r["training_iteration"] for r in t.history] == list(range(1, t.iterations + 1))


@pytest.mark.parametrize(("scheduler", "options", "extra", "message"), [
    ("sha", {"grace_period": 0}, {}, "scheduler_options.grace_period: must be a positive integer, got 0"),
    ("sha", {"grace_period": 10}, {}, "scheduler_options.grace_period: must be an integer from 1 to max_t=9, got 10"),
    ("sha", {"reduction_factor": 1}, {}, "scheduler_options.reduction_factor: must be a number >= 2, got 1"),
    ("sha", {"brackets": 2}, {}, "scheduler_options.brackets: not an option of scheduler 'sha'; valid: grace_period, reduction_factor"),
    ("hyperband", {"grace_period": 1}, {}, "scheduler_options.grace_period: not an option of scheduler 'hyperband'; valid: reduction_factor"),
    ("hyperband", {"reduction_factor": "3"}, {}, "scheduler_options.reduction_factor: must be a number >= 2, got '3'"),
    ("sha", {}, {"max_t": None}, "max_t: scheduler 'sha' needs max_t, the iterations of its last rung"),
    ("hyperband", {}, {"max_concurrent": 2}, "max_concurrent: scheduler 'hyperband' pauses trials at each rung until all have reached it"),
])
def test_bad_options_are_refused_in_one_line(storage, scheduler, options, extra, message):
    from tests.helpers import BOWL_SPACE, multi_fidelity_bowl

    kwargs = {"max_t": 9, "num_samples": 9, **extra}
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", scheduler=scheduler,
                scheduler_options=options, storage=storage, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_max_concurrent_as_large_as_the_experiment_is_fine(storage):
    from raytune_hpo.runner import plan
    from tests.helpers import BOWL_SPACE, multi_fidelity_bowl

    planned = plan(multi_fidelity_bowl, BOWL_SPACE, metric="loss", scheduler="sha", max_t=9,
                   num_samples=9, max_concurrent=9, storage=storage, dry_run=True)
    assert planned.scheduler.name == "sha"


def test_a_resumed_bracket_replays_the_decisions_from_the_trials_histories():
    """Interrupted while rung 1 waits: rebuilt from each trial's reports and whether it ended,
    the bracket decides as the uninterrupted one would."""
    curves = {f"t{k}": [(k * 7 % 9) / 10 + 1 / t for t in range(1, 10)] for k in range(9)}
    plan = sha_rungs(9, 1, 3, 9)
    whole = run_bracket(Bracket(plan, 3), curves)

    first = Bracket(plan, 3)
    for t in curves:
        first.add(t)
    history = {t: [] for t in curves}
    for t, curve in curves.items():  # everyone to rung 0, then the rung is decided
        history[t].append((1, -curve[0]))
        first.report(t, 1, -curve[0])
    promoted, stopped = first.decide()
    survivor = promoted[0]  # one survivor reaches rung 1 (3), then the driver dies
    for i in (2, 3):
        history[survivor].append((i, -curves[survivor][i - 1]))
        first.report(survivor, i, -curves[survivor][i - 1])

    resumed = Bracket(plan, 3)
    for t in curves:
        resumed.add(t)
        resumed.replay(t, history[t])
        if t in stopped:
            resumed.end(t)
    assert resumed.decide() == (promoted, [])  # rung 0 again: the same trials go on
    assert resumed.waiting(survivor)
    at = {t: 3 if t == survivor else 1 for t in promoted}
    done = {t: 1 for t in stopped}
    while len(done) < len(curves):
        for t in promoted:
            if t not in done and not resumed.waiting(t):
                at[t] += 1
                if resumed.report(t, at[t], -curves[t][at[t] - 1]) == "done":
                    done[t] = at[t]
        for t in resumed.decide()[1]:
            done[t] = at[t]
    assert done == whole


INTERRUPTED_SCRIPT = """
import sys, time
import raytune_hpo as hpo

def slow(config):
    with open(config["ledger"], "a") as ledger:  # every start of a trial, resumed ones included
        ledger.write(f"{config['x']}\\n")
    state = hpo.load_checkpoint()
    for t in range((state or {"t": 0})["t"] + 1, 10):
        time.sleep(0.3)
        hpo.report(loss=config["x"] + 1.0 / t, checkpoint={"t": t})

hpo.run(slow, {"x": hpo.grid([0.5, 0.2, 0.8, 0.1, 0.7, 0.4, 0.9, 0.3, 0.6]), "ledger": sys.argv[2]}, metric="loss", searcher="grid",
        scheduler="sha", max_t=9, resources={"cpu": 0.5}, storage=sys.argv[1], name="sha", verbose=0)
"""


@pytest.mark.slow
def test_resume_after_the_driver_was_killed_keeps_the_rungs(ray_cluster, storage, tmp_path):
    import os
    import subprocess
    import sys

    from tests.helpers import kill_driver_after

    script = tmp_path / "sha.py"
    script.write_text(INTERRUPTED_SCRIPT)
    ledger = tmp_path / "ledger"
    path = os.path.join(storage, "sha")
    driver = subprocess.Popen([sys.executable, str(script), storage, str(ledger)],
                              env={**os.environ, "RAY_ADDRESS": ray_cluster}, cwd=tmp_path)
    stopped = kill_driver_after(driver, path, 6)  # rung 1 decided: 6 of 9 stopped
    assert 6 <= len(stopped) < 9, "the driver was not killed mid-experiment"
    before = {t.config["x"]: (t.iterations, t.history) for t in stopped}
    started_before = len(ledger.read_text().splitlines())

    res = hpo.resume(path, verbose=0)
    # No trial that had ended before the kill was run again: none started after the resume,
    # and each keeps its reports and its iteration count.
    started_after = [float(x) for x in ledger.read_text().splitlines()[started_before:]]
    assert started_after and not set(started_after) & set(before), started_after
    for t in res.trials:
        if t.config["x"] in before:
            assert (t.iterations, t.history) == before[t.config["x"]], t.config["x"]
    assert res.num_errors == 0 and all(t.status == "TERMINATED" for t in res.trials)
    iterations = {t.config["x"]: t.iterations for t in res.trials}
    assert {x for x, i in iterations.items() if i == 1} == {0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
    assert {x for x, i in iterations.items() if i == 3} == {0.2, 0.3}
    assert {x for x, i in iterations.items() if i == 9} == {0.1}


# -- several objectives, constraints ---------------------------------------------------------

# (loss, acc, mem) at the first rung of 9 trials, in their order; loss is minimised, acc maximised,
# mem <= 16. In minimisation form (loss, -acc) the feasible fronts are {k2, k4, k5, k7}, {k0, k1},
# {k3}; in the first, crowding distance puts the ends k4 (0.1, 0.9) and k7 (0.35, 0.25) first
# (infinite), then k5 (0.8 + 0.92), then k2 (0.6 + 0.38). k6 dominates every trial but is
# infeasible; k8 is infeasible.
NINE = [(0.5, -0.5, 10), (0.4, -0.6, 10), (0.3, -0.3, 10), (0.6, -0.6, 10), (0.1, -0.9, 10),
        (0.2, -0.5, 10), (0.05, -0.05, 17), (0.35, -0.25, 10), (0.9, -0.9, 16.5)]


def two_objectives():
    from raytune_hpo._objectives import Objectives

    return Objectives.of(["loss", "acc"], ["min", "max"], {"mem": ("<=", 16)})


def test_a_bracket_with_two_objectives_promotes_by_nondominated_sorting():
    objectives = two_objectives()
    bracket = Bracket(sha_rungs(9, 1, 3, 9), 3, objectives)
    for k, (loss, acc, mem) in enumerate(NINE):
        bracket.add(f"k{k}")
        report = {"loss": loss, "acc": acc, "mem": mem}
        assert bracket.report(f"k{k}", 1, (objectives.values(report), objectives.violation(report))) == "wait"
    promoted, stopped = bracket.decide()
    # The top 3: the ends of the first front, then its least crowded inner point; k2, on the
    # front too, and k6, which dominates all but is infeasible, are stopped.
    assert sorted(promoted) == ["k4", "k5", "k7"]
    assert sorted(stopped) == ["k0", "k1", "k2", "k3", "k6", "k8"]


def test_one_objective_ranks_by_score_ties_by_the_trials_order():
    from raytune_hpo._objectives import Objectives

    bracket = Bracket([(4, 1), (2, 2)], 2, Objectives.of("loss", "min"))
    assert bracket.objectives is None  # scores, as without objectives
    for t, score in zip("abcd", (-1.0, -2.0, -1.0, -1.0)):
        bracket.add(t)
        bracket.report(t, 1, score)
    assert bracket.decide() == (["a", "c"], ["b", "d"])


def nine_points(config: dict) -> None:
    """Trial k reports NINE[k], loss 0.01 lower and acc 0.01 higher each step: the same fronts at
    every iteration; mem only at the first."""
    loss, acc, mem = NINE[config["k"]]
    state = hpo.load_checkpoint()
    for t in range((state or {"t": 0})["t"] + 1, 10):
        checkpoint = {"t": t} if t in (1, 3) else None  # where it waits
        hpo.report(loss=loss - 0.01 * t, acc=acc + 0.01 * t, mem=mem if t == 1 else 0, checkpoint=checkpoint)


def test_a_real_run_with_two_objectives_keeps_the_fronts_top(ray_cluster, storage):
    res = hpo.run(nine_points, {"k": hpo.grid(list(range(9)))}, metric=["loss", "acc"], mode=["min", "max"],
                  constraints={"mem": ("<=", 16)}, searcher="grid", scheduler="sha", max_t=9,
                  resources={"cpu": 0.5}, storage=storage, name="sha2", verbose=0)
    assert res.num_errors == 0
    # Rung 1 of {k4, k5, k7}: one front, its ends first; k4 came before k7.
    iterations = {t.config["k"]: t.iterations for t in res.trials}
    assert iterations == {0: 1, 1: 1, 2: 1, 3: 1, 4: 9, 5: 3, 6: 1, 7: 3, 8: 1}
