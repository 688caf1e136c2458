"""``raytune-hpo bench load`` on a small number of trials: every trial accounted for, and a
shortfall named when one is not."""

from __future__ import annotations

from types import SimpleNamespace

from raytune_hpo.bench.load import load, missing, table


def test_every_trial_is_accounted_for(ray_cluster):
    rows, problems = load(trials=40)
    assert problems == []
    assert [r.setting for r in rows] == ["Ray Tune reuse_actors=True", "raytune-hpo"]
    assert all(r.trials == 40 and r.seconds > 0 and r.peak_rss_mb > 0 for r in rows)
    assert table(rows, problems).endswith("every trial accounted for")


def test_a_shortfall_is_named():
    trial = SimpleNamespace(trial_id="a", status="TERMINATED", history=[{"loss": 1.0}])
    lost = SimpleNamespace(trial_id="b", status="PENDING", history=[])
    assert missing(SimpleNamespace(trials=[trial, lost]), 3) == [
        "2 trials recorded, not 3", "1 trials not TERMINATED, e.g. b",
        "1 trials without exactly one report, e.g. b",
    ]
