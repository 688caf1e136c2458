"""The benchmarks' method: the order of the runs, each tenth's throughput, the memory at a
trial, medians with their spread, and the ratios taken repeat by repeat."""

from __future__ import annotations

import pytest

from raytune_hpo.bench._fair import OURS, PLAIN_DEFAULTS, PLAIN_REUSE, SETTINGS, Run, median_spread, schedule
from raytune_hpo.bench.overhead import overhead, ratios, table


def test_each_repeat_rotates_the_order_so_that_no_setting_always_goes_first():
    order = schedule(["a", "b", "c"], 3)
    assert [s for _, _, s in order] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert [(k, place) for k, place, _ in order][:4] == [(0, 0), (0, 1), (0, 2), (1, 0)]


def run(setting: str = OURS, repeat: int = 0, ended=(), rss=(), seconds: float = 10.0, trials: int = 20) -> Run:
    return Run(setting, repeat, 0, trials, 0.0, seconds, 100.0, list(ended), list(rss))


def test_tenths_flatness_and_memory_at_a_trial():
    # 20 trials: 2 a second for the first half, then 1 a second.
    ended = [0.5 * k for k in range(1, 11)] + [5 + k for k in range(1, 11)]
    measured = run(ended=ended, rss=[(0.0, 50.0), (5.0, 60.0), (10.0, 70.0), (15.0, 80.0)])
    assert measured.tenths() == pytest.approx([2.0] * 5 + [1.0] * 5)
    assert measured.flatness == pytest.approx(0.5)
    assert measured.rss_at_trial(10) == 60.0 and measured.rss_at_trial(11) == 70.0
    assert measured.rss_at_trial(20) == 80.0 and measured.rss_at_trial(21) is None


def test_medians_with_their_spread_and_ratios_repeat_by_repeat():
    assert median_spread([3.0, 1.0, 2.0]) == "2.0 (1.0–3.0)" and median_spread([2.5]) == "2.5"
    runs = [run(PLAIN_REUSE, 0, seconds=2.0), run(OURS, 0, seconds=1.0),
            run(PLAIN_REUSE, 1, seconds=4.0), run(OURS, 1, seconds=1.0)]
    assert sorted(ratios(runs, OURS, PLAIN_REUSE)) == [2.0, 4.0]


def test_overhead_measures_every_setting_in_its_own_process(ray_cluster):
    runs = overhead(trials=6, repeats=1, warmup=1)
    assert sorted(r.setting for r in runs) == sorted(SETTINGS)
    assert all(r.trials == 6 and len(r.ended) == 6 and r.peak_rss_mb > 0 for r in runs)
    text = table(runs)
    assert f"| {PLAIN_DEFAULTS} | " in text and "raytune-hpo runs " in text
