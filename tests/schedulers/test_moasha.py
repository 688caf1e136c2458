"""``asha`` with several objectives or constraints: MO-ASHA (Schmucker et al. 2021). Its rungs'
decisions against a hand-worked case and a brute-force non-dominated sort with crowding distance
written here from the definitions (Deb et al. 2002), without Ray; against Ray's own
ASHAScheduler with one objective; rebuilt on resume from the experiment's files; then a real run
whose trials stop where the rule says."""

from __future__ import annotations

import json
import math
import random
import types

import pytest
from ray.tune.schedulers import ASHAScheduler

import raytune_hpo as hpo
from raytune_hpo._objectives import Objectives
from raytune_hpo.directory import Journal, ResultFile
from raytune_hpo.schedulers._asha import ASHA, ParetoASHA
from raytune_hpo.schedulers._pareto import ParetoRungs

LOSS_ACC = Objectives.of(["loss", "acc"], ["min", "max"], {"mem": ("<=", 16)})


# -- brute force, from the definitions ---------------------------------------------------------


def brute_place(points: list[tuple[tuple[float, ...] | None, float]], i: int) -> int:
    """The place (0 best) of ``points[i]`` among ``points`` ((values to minimise, violation)
    each, in order of arrival): the feasible ones first, front by front (each front the points no
    remaining point dominates, peeled one after the other), within a front by crowding distance
    (per objective, the gap between its two neighbours over the front's range, summed; a
    front's ends infinite), larger first, then by arrival; then the infeasible ones by
    violation, then by arrival; then those without values. Values must be distinct per objective."""

    def dominated(a, b):  # b dominates a
        return all(y <= x for x, y in zip(a, b)) and a != b

    feasible = [j for j, (v, bad) in enumerate(points) if v is not None and bad == 0]
    keys = {}
    remaining, front_number = set(feasible), 0
    while remaining:
        front = sorted(j for j in remaining if not any(dominated(points[j][0], points[k][0]) for k in remaining))
        distance = dict.fromkeys(front, 0.0)
        for m in range(len(points[front[0]][0])):
            ranked = sorted(front, key=lambda j: points[j][0][m])
            low, high = points[ranked[0]][0][m], points[ranked[-1]][0][m]
            distance[ranked[0]] = distance[ranked[-1]] = math.inf
            for before, j, after in zip(ranked, ranked[1:], ranked[2:]):
                distance[j] += (points[after][0][m] - points[before][0][m]) / (high - low)
        for j in front:
            keys[j] = (0, front_number, -distance[j], j)
        remaining -= set(front)
        front_number += 1
    for j, (v, bad) in enumerate(points):
        if j not in keys:
            keys[j] = (1, 0, bad, j) if v is not None else (2, 0, 0, j)
    return sorted(keys, key=keys.get).index(i)


def brute_asha(curves: dict[str, list[tuple]], rungs: list[int], max_t: int, eta: float = 3,
               arrivals: list[tuple[str, int]] | None = None) -> dict[str, int]:
    """The iteration at which each trial stops when its reports come in the order of
    ``arrivals`` ((trial, iteration) each; by default every trial still running reports one
    iteration in turn, in the order of ``curves``): at a rung, its point (that report's values and
    the largest violation of its reports so far) is recorded, and it goes on iff its place among
    the n points recorded there is below ceil(n / eta). A report again of a rung's iteration (a
    trial restarted from an earlier checkpoint) changes nothing."""
    if arrivals is None:
        arrivals = [(trial, t) for t in range(1, max_t + 1) for trial in curves]
    recorded: dict[int, dict] = {r: {} for r in rungs}
    worst = dict.fromkeys(curves, 0.0)
    stopped: dict[str, int] = {}
    for trial, t in arrivals:
        if trial in stopped:
            continue
        values, violation = curves[trial][t - 1]
        worst[trial] = max(worst[trial], violation)
        if t == max_t:
            stopped[trial] = t
        elif t in recorded and trial not in recorded[t]:
            recorded[t][trial] = (values, worst[trial])
            n = len(recorded[t])
            if brute_place(list(recorded[t].values()), n - 1) >= math.ceil(n / eta):
                stopped[trial] = t
    return stopped


def report_of(values: tuple[float, float], violation: float) -> dict:
    """A report of loss (min), acc (max) and mem (<= 16) with these minimisation-form values."""
    return {"loss": values[0], "acc": -values[1], "mem": 16 + violation}


def drive(rungs: ParetoRungs, curves: dict[str, list[tuple]], max_t: int) -> dict[str, int]:
    """``brute_asha``'s order of reports, through the scheduler's bookkeeping."""
    stopped: dict[str, int] = {}
    for t in range(1, max_t + 1):
        for trial, curve in curves.items():
            if trial not in stopped and (t == max_t or not rungs.report(trial, t, report_of(*curve[t - 1]))):
                stopped[trial] = t
    return stopped


# -- the rung's rule, without Ray ----------------------------------------------------------------

# Rung 0 (iteration 1) points in minimisation form (loss, -acc) and violations, in order of arrival.
RUNG0 = {
    "t0": ((0.5, 0.5), 0.0),  # n=1, top 1: alone, goes on
    "t1": ((0.4, 0.6), 0.0),  # n=2, top 1: same front as t0, both ends: t0 came first, t1 stops
    "t2": ((0.3, 0.3), 0.0),  # n=3, top 1: dominates t0 and t1, goes on
    "t3": ((0.6, 0.6), 0.0),  # n=4, top 2: dominated by all, stops
    "t4": ((0.1, 0.9), 0.0),  # n=5, top 2: front {t2, t4}, both ends, t4 second: goes on
    "t5": ((0.2, 0.5), 0.0),  # n=6, top 2: front {t2, t4, t5}, t5 inside (crowding 2): third, stops
    "t6": ((0.05, 0.05), 1.0),  # n=7, top 3: would dominate every trial, but infeasible: last, stops
    "t7": ((0.35, 0.25), 0.0),  # n=8, top 3: front {t2, t4, t5, t7}, t7 an end: second, goes on
    "t8": ((0.9, 0.9), 0.5),  # n=9, top 3: infeasible, ahead of t6 (less violation) only: stops
}


def test_a_rung_promotes_the_trials_a_hand_worked_sort_names():
    rungs = ParetoRungs([1, 3], 3, LOSS_ACC)
    goes_on = [t for t, (values, bad) in RUNG0.items() if rungs.report(t, 1, report_of(values, bad))]
    assert goes_on == ["t0", "t2", "t4", "t7"]
    points = list(RUNG0.values())
    assert [t for i, t in enumerate(RUNG0) if brute_place(points[: i + 1], i) < math.ceil((i + 1) / 3)] == goes_on


def curves_from(rung0: dict, seed: int, max_t: int = 9) -> dict[str, list[tuple]]:
    """Learning curves that start at ``rung0``'s points and improve by a trial's own rate per
    objective (distinct values everywhere); a trial infeasible at iteration 1 becomes feasible
    at iteration 2: it stays infeasible (its largest violation counts)."""
    rnd = random.Random(seed)
    curves = {}
    for trial, ((a, b), bad) in rung0.items():
        ra, rb = rnd.uniform(0.01, 0.1), rnd.uniform(0.01, 0.1)
        curves[trial] = [((a - ra * (t - 1), b - rb * (t - 1)), bad if t == 1 else 0.0) for t in range(1, max_t + 1)]
    return curves


def test_learning_curves_stop_where_brute_force_says():
    curves = curves_from(RUNG0, seed=0)
    stops = drive(ParetoRungs([1, 3], 3, LOSS_ACC), curves, 9)
    assert stops == brute_asha(curves, [1, 3], 9)
    assert {t for t, i in stops.items() if i == 1} == {"t1", "t3", "t5", "t6", "t8"}
    assert {i for t, i in stops.items() if t in ("t0", "t2", "t4", "t7")} <= {3, 9}


@pytest.mark.parametrize("seed", range(20))
def test_random_learning_curves_stop_where_brute_force_says(seed):
    rnd = random.Random(seed)
    trials = rnd.randint(9, 27)
    rung0 = {
        f"t{k:02d}": ((rnd.random(), rnd.random()), rnd.choice([0.0, 0.0, 0.0, rnd.random()])) for k in range(trials)
    }
    curves = curves_from(rung0, seed)
    assert drive(ParetoRungs([1, 3], 3, LOSS_ACC), curves, 9) == brute_asha(curves, [1, 3], 9)


def test_an_infeasible_trial_never_goes_on_ahead_of_a_feasible_one():
    rnd = random.Random(7)
    for _ in range(50):
        rungs = ParetoRungs([1], 3, LOSS_ACC)
        feasible = 0
        for k in range(15):
            bad = rnd.choice([0.0, rnd.random()])
            goes_on = rungs.report(f"t{k}", 1, report_of((rnd.random(), rnd.random()), bad))
            feasible += bad == 0
            if bad and goes_on:  # only while fewer feasible trials than the rung's top came
                assert feasible < math.ceil((k + 1) / 3)


def test_a_report_without_values_records_nothing_and_the_largest_violation_counts():
    rungs = ParetoRungs([1, 3], 3, LOSS_ACC)
    assert rungs.report("a", 1, {"loss": float("nan"), "acc": 1.0, "mem": 0})  # the Guard stops it
    assert rungs.points[0] == {}
    rungs.report("b", 1, report_of((0.5, 0.5), 2.0))
    rungs.report("b", 2, report_of((0.4, 0.4), 0.0))
    rungs.report("b", 3, report_of((0.3, 0.3), 0.0))
    assert rungs.points[1]["b"] == ((0.3, 0.3), 2.0)
    rungs.forget("b")
    assert "b" not in rungs.violation


# -- one objective: Ray's ASHA -----------------------------------------------------------------


def ray_and_ours(losses: list[list[float]], max_t: int = 9) -> tuple[dict, dict]:
    """Each trial's stopping iteration under Ray's ASHAScheduler and under ParetoASHA with one
    objective, every running trial reporting one iteration in turn."""
    ray = ASHAScheduler(time_attr="training_iteration", metric="loss", mode="min", max_t=max_t, grace_period=1,
                        reduction_factor=3)
    ours = ParetoASHA(Objectives.of("loss", "min"), max_t, 1, 3)
    ours._replayed = True  # no experiment directory to rebuild from
    trials = [types.SimpleNamespace(trial_id=f"t{k}") for k in range(len(losses))]
    stops: tuple[dict, dict] = ({}, {})
    for trial in trials:
        ray.on_trial_add(None, trial)
    for t in range(1, max_t + 1):
        for trial, curve in zip(trials, losses):
            result = {"training_iteration": t, "loss": curve[t - 1]}
            for scheduler, stopped in zip((ray, ours), stops):
                if trial.trial_id not in stopped and scheduler.on_trial_result(None, trial, dict(result)) == "STOP":
                    stopped[trial.trial_id] = t
    return stops


def test_one_objective_stops_the_trials_rays_asha_stops():
    xs = [0.37, 0.91, 0.05, 0.66, 0.23, 0.78, 0.49, 0.12, 0.84]  # tests/schedulers/test_same_decisions.py's
    ray, ours = ray_and_ours([[x + 1 / t for t in range(1, 10)] for x in xs])
    assert ours == ray
    # Rung 1 (top 1, 1, 1, 2, 2, 2, 3, 3, 3 of 1..9): 0.37 alone, 0.91 behind it, 0.05 best, ...;
    # rung 3: 0.37 alone, 0.05 best, 0.23 behind 0.05 (top 1 of 3), 0.12 second of 4 (top 2).
    assert ray == {"t0": 9, "t1": 1, "t2": 9, "t3": 1, "t4": 3, "t5": 1, "t6": 1, "t7": 9, "t8": 1}


def test_one_objective_differs_from_rays_percentile_only_between_the_values_it_interpolates():
    """Ray goes on at or above the (1 - 1/3) percentile of the earlier values, interpolated
    between two of them; the rule counts places: they differ only for a value between those two."""
    differ = 0
    for seed in range(40):
        rnd = random.Random(seed)
        earlier: list[float] = []
        ray = ASHAScheduler(time_attr="training_iteration", metric="loss", mode="min", max_t=9, reduction_factor=3)
        ours = ParetoRungs([1, 3], 3, Objectives.of("loss", "min"))
        for k in range(12):
            trial, loss = types.SimpleNamespace(trial_id=f"t{k}"), rnd.random()
            ray.on_trial_add(None, trial)
            ray_goes_on = ray.on_trial_result(None, trial, {"training_iteration": 1, "loss": loss}) == "CONTINUE"
            if ours.report(trial.trial_id, 1, {"loss": loss}) != ray_goes_on:
                differ += 1
                scores = sorted(-x for x in earlier)
                h = (1 - 1 / 3) * (len(scores) - 1)
                assert scores[math.floor(h)] < -loss < scores[math.ceil(h)]
            earlier.append(loss)
    assert differ  # the case exists


def test_one_objective_without_constraint_is_rays_asha_itself():
    from raytune_hpo.schedulers import SchedulerRequest, get_scheduler
    from raytune_hpo.space import Space

    def build(**kwargs):
        return get_scheduler("asha").build(SchedulerRequest("asha", Space({"x": hpo.uniform(0, 1)}), 9, **kwargs))

    assert type(build(objectives=Objectives.of("loss", "min"))) is ASHA
    assert type(build()) is ASHA
    several = build(objectives=LOSS_ACC, options={"grace_period": 2, "reduction_factor": 2})
    assert type(several) is ParetoASHA and several._rungs.milestones == [2, 4, 8]
    assert several.metric is None  # Ray's TuneConfig sets it: the first objective
    assert several.set_search_properties("loss", "min") and several.metric == "loss"


@pytest.mark.parametrize(("options", "message"), [
    ({"brackets": 2}, "scheduler_options.brackets: asha runs one bracket with several objectives or constraints; must be 1, got 2"),
    ({"grace_period": 10}, "scheduler_options.grace_period: must be an integer from 1 to max_t=9, got 10"),
    ({"reduction_factor": 1}, "scheduler_options.reduction_factor: must be a number > 1, got 1"),
    ({"stop_last_trials": False}, "scheduler_options.stop_last_trials: not an option of scheduler 'asha'; valid: brackets, grace_period, reduction_factor"),
])
def test_bad_options_are_refused_in_one_line(storage, options, message):
    from raytune_hpo.runner import plan

    with pytest.raises(hpo.ConfigError) as e:
        plan(two_curves, {"x": hpo.uniform(0, 1), "y": hpo.uniform(0, 1)}, metric=["a", "b"], mode=["min", "max"],
             searcher="random", scheduler="asha", max_t=9, num_samples=9, scheduler_options=options, storage=storage,
             dry_run=True)
    assert str(e.value) == message


# -- resume: the rungs rebuilt from the experiment's files ------------------------------------


def test_the_rungs_are_rebuilt_from_the_journal_and_the_reports(tmp_path):
    curves = curves_from(RUNG0, seed=3)
    live = ParetoRungs([1, 3], 3, LOSS_ACC)
    journal = Journal(str(tmp_path))
    files = {}
    for k, trial in enumerate(curves):
        journal.write("start", trial=trial, name=f"trial_{k}", config={})
        files[trial] = ResultFile(str(tmp_path / f"trial_{k}"))
    stopped: dict[str, int] = {}
    for t in range(1, 4):  # the driver dies after iteration 3
        for trial, curve in curves.items():
            if trial in stopped:
                continue
            report = {"training_iteration": t, "timestamp": 1000 + t, **report_of(*curve[t - 1])}
            files[trial].append(report)
            if not live.report(trial, t, report):
                stopped[trial] = t
                if t < 3:  # those stopped at iteration 3 had no end written: the driver died first
                    journal.write("end", trial=trial, status="TERMINATED")
    journal.write("start", trial="dropped", name="trial_dropped", config={})
    ResultFile(str(tmp_path / "trial_dropped")).append({"training_iteration": 1, **report_of((0.0, 0.0), 0.0)})
    journal.write("drop", trial="dropped")
    journal.close()

    rebuilt = ParetoRungs([1, 3], 3, LOSS_ACC)
    rebuilt.replay(str(tmp_path))
    assert rebuilt.points == live.points and list(rebuilt.points[0]) == list(curves)
    unfinished = {t for t in curves if stopped.get(t, 3) == 3}
    assert set(rebuilt.violation) == unfinished and rebuilt.stopped == {t for t in unfinished if t in stopped}
    assert rebuilt.stopped  # the case exists
    assert [rebuilt.goes_on(1, t) for t in live.points[1]] == [live.goes_on(1, t) for t in live.points[1]]
    # Restarted from an earlier checkpoint, each gets the decision it got; one restarted from a
    # later one (its iteration-3 checkpoint) too.
    for trial in unfinished:
        assert rebuilt.report(trial, 3, report_of(*curves[trial][2])) == (trial not in stopped)
        assert rebuilt.report(trial, 4, report_of(*curves[trial][3])) == (trial not in stopped)


def test_no_journal_nothing_rebuilt(tmp_path):
    rungs = ParetoRungs([1, 3], 3, LOSS_ACC)
    rungs.replay(str(tmp_path))
    assert rungs.points == [{}, {}]


# -- a real run --------------------------------------------------------------------------------


def two_curves(config: dict) -> None:
    """a (min) and b (max) improve with the iterations; x trades a for b, y worsens both; c = y;
    ``now``, the time of the report."""
    import time

    for t in range(1, 10):
        hpo.report(a=config["x"] + config["y"] + 1 / t, b=config["x"] - config["y"] - 1 / t, c=config["y"],
                   now=time.time())


def curves_and_arrivals(results, dropped: dict[str, float] | None = None) -> tuple[dict, list]:
    """Each trial's curve as its configuration makes it, and its reports in the order they
    were made, by their ``now``: those of a trial's run that resume dropped (before the time
    of its drop, in ``dropped``) left out."""
    curves, arrivals = {}, []
    for trial in results.trials:
        x, y = trial.config["x"], trial.config["y"]
        curves[trial.trial_id] = [((x + y + 1 / t, -(x - y - 1 / t)), max(0.0, y - 0.7)) for t in range(1, 10)]
        since = (dropped or {}).get(trial.trial_id, 0.0)
        arrivals += [(r["now"], trial.trial_id, r["training_iteration"]) for r in trial.history if r["now"] > since]
    return curves, [(trial, t) for _, trial, t in sorted(arrivals)]


def test_a_real_run_stops_each_trial_where_the_rule_says(ray_cluster, storage):
    # One trial at a time (each takes both CPUs): the trials reach every rung in their order.
    res = hpo.run(two_curves, {"x": hpo.uniform(0, 1), "y": hpo.uniform(0, 1)}, metric=["a", "b"],
                  mode=["min", "max"], constraints={"c": ("<=", 0.7)}, scheduler="asha", searcher="random",
                  max_t=9, num_samples=9, seed=6, resources={"cpu": 2}, storage=storage, name="moasha", verbose=0)
    loaded = hpo.load(res.path)
    assert res.num_errors == 0
    curves, arrivals = curves_and_arrivals(loaded)
    first_only = {trial: [((values[0],), 0.0) for values, _ in curve] for trial, curve in curves.items()}
    expected = brute_asha(curves, [1, 3], 9, arrivals=arrivals)
    assert {t.trial_id: t.iterations for t in loaded.trials} == expected
    # The case tests something: trials stopped at each rung, infeasible ones among them, and
    # not as ASHA on the first objective alone would have.
    assert set(expected.values()) == {1, 3, 9}
    assert any(curve[0][1] > 0 for curve in curves.values())
    assert expected != brute_asha(first_only, [1, 3], 9, arrivals=arrivals)


KILLED_SCRIPT = """
import sys, time
import raytune_hpo as hpo

def two_curves(config):
    state = hpo.load_checkpoint()
    x, y = config["x"], config["y"]
    for t in range((state or {"t": 0})["t"] + 1, 10):
        time.sleep(0.2)
        hpo.report(a=x + y + 1 / t, b=x - y - 1 / t, c=y, now=time.time(), checkpoint={"t": t})

hpo.run(two_curves, {"x": hpo.uniform(0, 1), "y": hpo.uniform(0, 1)}, metric=["a", "b"], mode=["min", "max"],
        constraints={"c": ("<=", 0.7)}, scheduler="asha", searcher="random", max_t=9, num_samples=12, seed=6,
        resources={"cpu": 2}, storage=sys.argv[1], name="moasha", verbose=0)
"""


@pytest.mark.slow
def test_resume_after_the_driver_was_killed_keeps_the_rungs(ray_cluster, storage, tmp_path):
    """Ray keeps no scheduler state in its snapshot: the rungs come back from the experiment's
    files, and the trials after the resume stop where an uninterrupted run stops them."""
    import os
    import subprocess
    import sys

    from tests.helpers import kill_driver_after

    script = tmp_path / "moasha.py"
    script.write_text(KILLED_SCRIPT)
    path = os.path.join(storage, "moasha")
    driver = subprocess.Popen([sys.executable, str(script), storage],
                              env={**os.environ, "RAY_ADDRESS": ray_cluster}, cwd=tmp_path)
    ended = kill_driver_after(driver, path, 5)
    assert 5 <= len(ended) < 12, "the driver was not killed mid-experiment"
    before = {t.trial_id: t.iterations for t in ended}

    res = hpo.resume(path, verbose=0)
    loaded = hpo.load(res.path)
    assert res.num_errors == 0 and len(loaded.trials) == 12
    # Resume may run the trials in another order than their numbers: the reports' times say it.
    with open(os.path.join(path, "trials.jsonl")) as journal:
        dropped = {e["trial"]: e["time"] for e in map(json.loads, journal) if e["event"] == "drop"}
    curves, arrivals = curves_and_arrivals(loaded, dropped)
    iterations = {t.trial_id: t.iterations for t in loaded.trials}
    assert {i: iterations[i] for i in before} == before
    assert iterations == brute_asha(curves, [1, 3], 9, arrivals=arrivals)
