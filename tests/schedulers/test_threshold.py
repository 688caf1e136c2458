"""``threshold`` stops what its rules say, and nothing else: deterministic trainables with
known curves, the rules unit-tested without Ray, then together in real runs."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

import raytune_hpo as hpo
from raytune_hpo.schedulers import SchedulerRequest, get_scheduler
from raytune_hpo.space import Space

STOP = "STOP"


def build(mode: str = "min", max_t: int | None = 8, time_budget_s: float | None = None, **options):
    request = SchedulerRequest("threshold", Space({"x": hpo.uniform(0, 1)}), max_t, options,
                               time_budget_s=time_budget_s)
    scheduler = get_scheduler("threshold").build(request)
    scheduler.set_search_properties("loss", mode)
    return scheduler


def feed(scheduler, trial: str, curve: list[float], times: list[float] | None = None) -> int:
    """Report the curve until the scheduler says stop; the iterations the trial ran."""
    for t, value in enumerate(curve, start=1):
        result = {"training_iteration": t, "loss": value, "time_total_s": times[t - 1] if times else 0.0}
        if scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial), result) == STOP:
            return t
    return len(curve)


def test_a_threshold_stops_at_its_iteration_a_trial_worse_than_it():
    s = build(thresholds=[{"at": 2, "worse_than": 0.5}, {"at": 4, "worse_than": 0.2}])
    assert feed(s, "a", [0.9, 0.6, 0.1, 0.1, 0.1]) == 2   # 0.6 > 0.5 at 2
    assert feed(s, "b", [0.9, 0.5, 0.4, 0.3, 0.1]) == 4   # 0.5 is not worse; 0.3 > 0.2 at 4
    assert feed(s, "c", [0.9, 0.4, 0.9, 0.2, 0.9]) == 5   # only iterations 2 and 4 count
    assert feed(s, "d", [0.1, float("nan"), 0.1]) == 2    # NaN is worse than anything
    maximize = build(mode="max", thresholds={"at": 1, "worse_than": 0.5})
    assert feed(maximize, "a", [0.4, 0.9]) == 1 and feed(maximize, "b", [0.5, 0.9]) == 2


def test_fractions_of_the_iteration_and_time_budgets():
    s = build(max_t=10, iteration_fraction=0.25)   # ceil(2.5) = 3 iterations
    assert feed(s, "a", [0.1] * 10) == 3
    s = build(time_budget_s=60, time_fraction=0.1)  # 6 s of training per trial
    assert feed(s, "a", [0.1] * 5, times=[2, 4, 5.9, 6.0, 8]) == 4
    assert feed(s, "b", [0.1] * 3, times=[1, 2, 3]) == 3


def test_rank_stops_the_worst_percentile_of_the_trials_at_a_milestone():
    s = build(milestones=[2], percentile=25, min_samples_required=4)
    # values at iteration 2, in order of arrival: a 0.4, b 0.1, c 0.3 (3 < 4: no decision)
    assert [feed(s, t, [1, v, 1]) for t, v in [("a", 0.4), ("b", 0.1), ("c", 0.3)]] == [3, 3, 3]
    assert feed(s, "d", [1, 0.5, 1]) == 2   # 3 of 4 did better: in the worst 25 %
    assert feed(s, "e", [1, 0.35, 1]) == 3  # 2 of 5 did better
    median = build(milestones=[1, 3], percentile=50, min_samples_required=1)
    assert feed(median, "a", [0.5, 0.5, 0.5]) == 3
    assert feed(median, "b", [0.6, 0.5, 0.5]) == 1   # worse than a at 1: the worse half of 2
    assert feed(median, "c", [0.4, 0.5, 0.6, 0.1]) == 3   # best at 1; at 3, a did better


@pytest.mark.parametrize(("options", "extra", "message"), [
    ({}, {}, "scheduler_options: scheduler 'threshold' needs at least one rule: thresholds, iteration_fraction, time_fraction or milestones"),
    ({"thresholds": [{"at": 0, "worse_than": 1}]}, {}, "scheduler_options.thresholds[0].at: must be an iteration, an integer >= 1, got 0"),
    ({"thresholds": [{"at": 2, "above": 1}]}, {}, "scheduler_options.thresholds[0]: must be {'at': ITERATION, 'worse_than': VALUE}"),
    ({"thresholds": [{"at": 2, "worse_than": "x"}]}, {}, "scheduler_options.thresholds[0].worse_than: must be a number, got 'x'"),
    ({"iteration_fraction": 1.5}, {}, "scheduler_options.iteration_fraction: must be a number in (0, 1], got 1.5"),
    ({"iteration_fraction": 0.5}, {"max_t": None}, "max_t: scheduler 'threshold' with iteration_fraction needs max_t"),
    ({"time_fraction": 0.5}, {}, "time_budget_s: scheduler 'threshold' with time_fraction needs time_budget_s"),
    ({"milestones": [3]}, {}, "scheduler_options: 'milestones' and 'percentile' go together"),
    ({"milestones": [3], "percentile": 100}, {}, "scheduler_options.percentile: must be a number between 0 and 100"),
    ({"milestones": ["3"], "percentile": 50}, {}, "scheduler_options.milestones[0]: must be an iteration, an integer >= 1, got '3'"),
    ({"milestones": [3], "percentile": 50, "min_samples_required": 0}, {}, "scheduler_options.min_samples_required: must be a positive integer, got 0"),
    ({"quantile": 0.5}, {}, "scheduler_options.quantile: not an option of scheduler 'threshold'; valid: iteration_fraction, milestones, min_samples_required, percentile, thresholds, time_fraction"),
])
def test_bad_options_are_refused_in_one_line(storage, options, extra, message):
    from tests.helpers import BOWL_SPACE, multi_fidelity_bowl

    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", scheduler="threshold",
                scheduler_options=options, storage=storage, **{"max_t": 9, **extra})
    assert message in str(e.value) and "\n" not in str(e.value)


CURVES = {  # loss at iterations 1..8
    "A": [0.9, 0.6, 0.5, 0.4, 0.3, 0.3, 0.3, 0.3],   # worse than 0.5 at 2: stopped at 2
    "B": [0.9, 0.5, 0.5, 0.4, 0.3, 0.2, 0.2, 0.2],   # first at milestone 3; ends at the limit, 6
    "C": [0.9, 0.4, 0.7, 0.4, 0.3, 0.2, 0.2, 0.2],   # the worse half at 3 (B did better): 3
    "D": [0.9, 0.4, 0.3, 0.3, 0.2, 0.1, 0.1, 0.1],   # the best at 3; ends at the limit, 6
    "E": [0.9, 0.4, 0.45, 0.5, 0.3, 0.2, 0.1, 0.1],  # 1 of 4 better at 3; worse than 0.45 at 4
}
EXPECTED = {"A": 2, "B": 6, "C": 3, "D": 6, "E": 4}


def known_curve(config: dict) -> None:
    for value in CURVES[config["curve"]]:
        hpo.report(loss=value)


def test_stops_what_it_should_and_nothing_else(ray_cluster, storage):
    # One trial at a time (each takes both CPUs), in grid order: arrivals at the milestone are
    # in a known order.
    res = hpo.run(known_curve, {"curve": hpo.grid(list(CURVES))}, metric="loss", searcher="grid",
                  scheduler="threshold", max_t=8, resources={"cpu": 2}, storage=storage, name="th", verbose=0,
                  scheduler_options={"thresholds": [{"at": 2, "worse_than": 0.5}, {"at": 4, "worse_than": 0.45}],
                                     "iteration_fraction": 0.75, "milestones": [3], "percentile": 50,
                                     "min_samples_required": 2})
    assert res.num_errors == 0
    assert {t.config["curve"]: t.iterations for t in res.trials} == EXPECTED
    assert all(t.status == "TERMINATED" for t in res.trials)


def slow(config: dict) -> None:
    for _ in range(20):
        time.sleep(0.4)
        hpo.report(loss=config["x"])


def test_time_fraction_stops_a_trial_at_its_share_of_the_time_budget(ray_cluster, storage):
    res = hpo.run(slow, {"x": hpo.grid([0.1, 0.2])}, metric="loss", searcher="grid", scheduler="threshold",
                  max_t=20, time_budget_s=30, resources={"cpu": 1}, storage=storage, name="time", verbose=0,
                  scheduler_options={"time_fraction": 0.05})
    assert res.num_errors == 0
    for t in res.trials:
        times = [r["time_total_s"] for r in t.history]
        assert times[-1] >= 1.5 and (len(times) == 1 or times[-2] < 1.5), times
        assert t.iterations < 20
