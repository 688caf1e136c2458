"""Pairings that cannot work, and scheduler options, are refused before any trial starts."""

from __future__ import annotations

import os

import pytest

import raytune_hpo as hpo
from tests.helpers import BOWL_SPACE, multi_fidelity_bowl


@pytest.mark.parametrize(
    ("searcher", "scheduler", "message"),
    [
        ("bohb", "asha", "scheduler: searcher 'bohb' cannot run with scheduler 'asha'; it needs scheduler 'bohb' or 'hyperband'"),
        ("bohb", "pbt", "scheduler: searcher 'bohb' cannot run with scheduler 'pbt'; it needs scheduler 'bohb' or 'hyperband'"),
        ("tpe", "bohb", "searcher: scheduler 'bohb' cannot run with searcher 'tpe'; it needs searcher 'bohb'"),
        ("optuna", "pbt", "searcher: scheduler 'pbt' cannot run with searcher 'optuna'; it needs searcher 'random' or 'grid'"),
        ("random", "pbt", "scheduler: 'pbt' hands a trial's weights to another through checkpoints, but multi_fidelity_bowl() never calls hpo.load_checkpoint()"),
        ("random", "asah", "scheduler: unknown name 'asah'; choose one of fifo, median, asha"),
        ("bohb", "hyperband_async", "scheduler: searcher 'bohb' cannot run with scheduler 'hyperband_async'; it needs scheduler 'bohb' or 'hyperband'"),
        ("bohb", "sha", "scheduler: searcher 'bohb' cannot run with scheduler 'sha'; it needs scheduler 'bohb' or 'hyperband'"),
        ("grid", "pb2", "searcher: scheduler 'pb2' cannot run with searcher 'grid'; it needs searcher 'random'"),
        ("dehb", "asha", "scheduler: searcher 'dehb' cannot run with scheduler 'asha'; it needs scheduler 'dehb'"),
        ("random", "dehb", "searcher: scheduler 'dehb' cannot run with searcher 'random'; it needs searcher 'dehb'"),
        ("optuna", "pb2", "searcher: scheduler 'pb2' cannot run with searcher 'optuna'; it needs searcher 'random'"),
    ],
)
def test_invalid_pairing_is_refused_before_anything_starts(storage, searcher, scheduler, message):
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", searcher=searcher,
                scheduler=scheduler, storage=storage, name="exp")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not os.path.exists(os.path.join(storage, "exp"))


@pytest.mark.parametrize(
    ("scheduler", "options", "message"),
    [
        ("asha", {"grace": 1}, "scheduler_options.grace: not an option of scheduler 'asha'; valid: brackets, grace_period, reduction_factor, stop_last_trials"),
        ("fifo", {"grace_period": 1}, "scheduler_options.grace_period: not an option of scheduler 'fifo'; valid: none"),
        ("asha", {"metric": "x"}, "scheduler_options.metric: not an option of scheduler 'asha'"),
        ("asha", {"max_t": 5}, "max_t: given twice, 9 and scheduler_options.max_t=5; keep one"),
    ],
)
def test_scheduler_options_are_checked_by_name(storage, scheduler, options, message):
    with pytest.raises(hpo.ConfigError) as e:
        hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", scheduler=scheduler, max_t=9,
                scheduler_options=options, storage=storage)
    assert message in str(e.value)


def test_max_t_may_come_with_the_scheduler_options(ray_cluster, storage):
    res = hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", scheduler="asha", num_samples=3,
                  scheduler_options={"max_t": 4, "grace_period": 2}, storage=storage, verbose=0)
    assert max(t.iterations for t in res.trials) == 4


def _resumes(config):
    return hpo.load_checkpoint()


def trains_through_a_shared_loop(config):
    _resumes(config)
    hpo.report(loss=1.0, checkpoint={"epoch": 0})


def test_pbt_accepts_a_trainable_whose_helper_loads_the_checkpoint(storage):
    from raytune_hpo.runner import plan

    planned = plan(trains_through_a_shared_loop, {"x": hpo.uniform(0, 1)}, metric="loss",
                   scheduler="pbt", storage=storage, dry_run=True)
    assert planned.scheduler.name == "pbt"
