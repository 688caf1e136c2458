"""``raytune-hpo bench load`` on a small number of trials: every trial accounted for, the
table's columns filled, and a shortfall named when one is not."""

from __future__ import annotations

from raytune_hpo.bench._fair import OURS, PLAIN_REUSE
from raytune_hpo.bench.load import load, missing, table
from raytune_hpo.directory import Journal


def test_every_trial_is_accounted_for_and_the_run_measured(ray_cluster):
    runs, problems, read = load(trials=30, repeats=1, warmup=2)
    assert problems == [] and set(read) == {"hpo.load", "raytune-hpo show"} and all(s > 0 for s in read.values())
    assert sorted(r.setting for r in runs) == sorted([PLAIN_REUSE, OURS])
    for run in runs:
        assert run.trials == 30 and len(run.ended) == 30 and run.seconds > 0 and run.peak_rss_mb > 0
        assert len(run.tenths()) == 10 and run.rss_at_trial(30) > 0
    text = table(runs, problems, read)
    assert text.endswith("every trial accounted for") and f"| {OURS} | " in text
    assert "reading the 30-trial experiment back: hpo.load " in text


def test_a_shortfall_is_named(tmp_path):
    journal = Journal(str(tmp_path))
    journal.write("session", kind="run")
    for trial, name in (("a", "trial_00001_a"), ("b", "trial_00002_b"), ("c", "trial_00002_b")):
        journal.write("start", trial=trial, name=name, config={})
    journal.write("end", trial="a", status="TERMINATED", reports=1, iterations=1, best=None, non_finite=None)
    journal.write("end", trial="b", status="TERMINATED", reports=2, iterations=2, best=None, non_finite=None)
    journal.write("start", trial="a", name="trial_00001_a", config={})  # ran again
    journal.write("end", trial="a", status="TERMINATED", reports=1, iterations=1, best=None, non_finite=None)
    journal.close()
    assert missing(str(tmp_path), 4) == [
        "3 trials recorded, not 4", "1 trials not TERMINATED, e.g. c", "2 trials without exactly one report, e.g. b",
        "2 trials started or ended more than once, e.g. a", "trial directories repeat",
    ]
