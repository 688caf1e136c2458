"""Objectives, constraints, non-dominated sorting and the hypervolume, checked against brute force."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from raytune_hpo._objectives import (
    Objectives,
    crowding_distance,
    dominates,
    hypervolume,
    join_front,
    nondominated_fronts,
)
from raytune_hpo.errors import ConfigError


def brute_front(vectors):
    return [i for i, v in enumerate(vectors) if not any(dominates(w, v) for w in vectors)]


def test_the_first_front_is_exactly_the_points_nothing_dominates_and_each_front_that_of_the_rest():
    rng = random.Random(0)
    for _ in range(400):  # two objectives (the sweep) and three (the general sort), many ties
        vectors = [tuple(rng.choice([0, 1, 2, 3]) for _ in range(rng.choice([2, 3]))) for _ in range(rng.randint(1, 25))]
        dims = {len(v) for v in vectors}
        if len(dims) > 1:
            continue
        left = list(range(len(vectors)))
        for front in nondominated_fronts(vectors):
            assert front == sorted(left[i] for i in brute_front([vectors[j] for j in left]))
            left = [i for i in left if i not in front]
        assert left == []


def test_ten_thousand_trials_of_two_objectives_are_sorted_whole():
    rng = random.Random(1)
    vectors = [(rng.random(), rng.random()) for _ in range(10_000)]
    fronts = nondominated_fronts(vectors)  # the sweep: ~0.1 s here, where pairwise sorting took minutes
    assert sorted(i for f in fronts for i in f) == list(range(10_000))
    assert fronts[0] == brute_front(vectors)


def test_a_front_followed_point_by_point_is_the_first_front_of_all_the_points():
    rng = random.Random(2)
    for _ in range(100):
        vectors = [(rng.randint(0, 4), rng.randint(0, 4)) for _ in range(rng.randint(1, 20))]
        front: dict = {}
        for i, v in enumerate(vectors):
            assert join_front(front, i, v) == (not any(dominates(w, v) for w in vectors[:i]))
        assert sorted(front) == brute_front(vectors)  # equal vectors kept, as they share a front


def test_crowding_distance_is_the_gap_between_neighbours_over_the_range_extremes_infinite():
    front = [(0.0, 4.0), (1.0, 2.0), (2.0, 1.0), (4.0, 0.0)]
    distance = crowding_distance(front)
    assert distance[0] == distance[3] == math.inf
    assert distance[1] == pytest.approx((2 - 0) / 4 + (4 - 1) / 4)
    assert distance[2] == pytest.approx((4 - 1) / 4 + (2 - 0) / 4)


def test_rank_puts_fronts_first_crowding_within_infeasible_after_by_violation_missing_last():
    o = Objectives.of(["a", "b"], ["min", "max"], {"c": ("<=", 1)})
    reports = [
        {"a": 1, "b": 1, "c": 0},  # 0: dominated by 1
        {"a": 0, "b": 2, "c": 0},  # 1: front (extreme)
        {"a": 2, "b": 5, "c": 0},  # 2: front (extreme)
        {"a": 1.5, "b": 3, "c": 0},  # 3: front (middle: least crowding distance)
        {"a": -9, "b": 99, "c": 3},  # 4: infeasible by 2
        {"a": -9, "b": 99, "c": 1.5},  # 5: infeasible by 0.5
        {"a": float("nan"), "b": 1, "c": 0},  # 6: no values
    ]
    points = [o.point([r]) for r in reports]
    assert points[1] == ((0.0, -2.0), 0.0) and points[4][1] == 2.0
    assert o.rank(points) == [1, 2, 3, 0, 5, 4, 6]
    assert o.front(points) == [1, 2, 3]


def test_a_trial_is_infeasible_when_any_report_violated_and_stands_by_its_last_report():
    o = Objectives.of(["a", "b"], ["min", "min"], {"mem": ("<=", 4), "acc": (">=", 0.5)})
    reports = [{"a": 3, "b": 3, "mem": 6, "acc": 0.6}, {"a": 1, "b": 2, "mem": 2, "acc": 0.6}]
    assert o.point(reports) == ((1.0, 2.0), 2.0)
    assert o.violation({"a": 1, "b": 1, "mem": 1, "acc": 0.25}) == 0.25
    assert o.violation({"a": 1, "b": 1, "acc": 0.9}) == math.inf  # the constrained metric missing


def test_one_objective_ranks_by_value_ties_by_arrival():
    o = Objectives.of("loss", "max", {"m": ("<=", 1)})
    points = [o.point([{"loss": v, "m": 0}]) for v in (0.3, 0.9, 0.3, 0.1, 0.3)] + [o.point([{"loss": 2, "m": 2}])]
    assert o.rank(points) == [1, 0, 2, 4, 3, 5]


def grid_volume(vectors, ref, cell):
    """The dominated volume counted cell by cell from the origin: brute force, exact where
    every coordinate is a multiple of ``cell``."""
    steps = [round(r / cell) for r in ref]
    inside = 0
    for index in itertools.product(*(range(n) for n in steps)):
        centre = [(i + 0.5) * cell for i in index]
        inside += any(all(v[k] <= centre[k] for k in range(len(ref))) for v in vectors)
    return inside * cell ** len(ref)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_hypervolume_matches_a_cell_count(dims):
    rng = random.Random(dims)
    for _ in range(5):
        vectors = [tuple(rng.randint(0, 9) / 4 for _ in range(dims)) for _ in range(7)]
        ref = (2.5,) * dims
        assert hypervolume(vectors, ref) == pytest.approx(grid_volume(vectors, ref, 0.25), rel=1e-12)


def test_hypervolume_of_known_fronts():
    assert hypervolume([(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)], (4.0, 4.0)) == pytest.approx(6.0)
    assert hypervolume([(1.0, 1.0, 1.0)], (2.0, 3.0, 4.0)) == pytest.approx(1 * 2 * 3)
    assert hypervolume([(5.0, 0.0)], (4.0, 4.0)) == 0.0  # outside the reference: nothing


@pytest.mark.parametrize(
    ("metric", "mode", "constraints", "message"),
    [
        (["a", "b"], None, None, "mode: give one mode per metric, e.g. mode=['min', 'min'] for metric=['a', 'b']"),
        (["a", "b"], ["min"], None, "mode: give one mode per metric (2)"),
        (["a", "b"], ["min", "up"], None, "mode of 'b': must be 'min' or 'max', got 'up'"),
        ([], None, None, "metric: must be a non-empty string"),
        (["a", "a"], ["min", "min"], None, "metric: 'a' given twice"),
        ("a", "min", {"m": ("=", 1)}, "constraints.m: operator '=' unknown; use '<=' or '>='"),
        ("a", "min", {"m": ("<=", float("nan"))}, "constraints.m: the bound must be a finite number"),
        ("a", "min", {"m": ["<="]}, "constraints.m: must be (operator, bound)"),
        ("a", "min", [("m", "<=", 1)], "constraints: must be a mapping"),
    ],
)
def test_bad_objectives_are_refused_in_one_line(metric, mode, constraints, message):
    with pytest.raises(ConfigError) as e:
        Objectives.of(metric, mode, constraints)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_the_meta_keeps_one_objective_as_before_and_reads_back():
    assert Objectives.of("loss").meta() == {"metric": "loss", "mode": "min"}
    several = Objectives.of(["a", "b"], ["min", "max"], {"m": ("<=", 16)})
    assert several.meta() == {"metric": ["a", "b"], "mode": ["min", "max"], "constraints": {"m": ["<=", 16.0]}}
    assert Objectives.from_meta(several.meta()) == several
