"""The trainable adapter: checkpoints of tensors round-trip, a returned dict is a result,
trials are seeded from (seed, trial index), and report/load_checkpoint are harmless outside."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import raytune_hpo as hpo
from raytune_hpo.trainable import trial_index, trial_seed


def resumable(config: dict) -> None:
    """Fails once mid-way (the first attempt), then must continue from its checkpoint."""
    import os

    state = hpo.load_checkpoint()
    start = 0 if state is None else state["epoch"] + 1
    weights = torch.zeros(3) if state is None else state["model"]["w"]
    for epoch in range(start, 6):
        weights = weights + 1
        hpo.report(loss=float(10 - weights.sum()), started_at=start,
                   checkpoint={"model": {"w": weights}, "epoch": epoch, "np": np.arange(3)})
        marker = os.path.join(config["dir"], "failed-once")
        if epoch == 2 and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("injected failure")


def test_a_failed_trial_is_retried_from_its_last_checkpoint(ray_cluster, storage, tmp_path):
    res = hpo.run(resumable, {"x": hpo.uniform(0, 1), "dir": str(tmp_path)}, metric="loss",
                  num_samples=1, max_failures=1, storage=storage, name="retry", verbose=0)
    assert res.num_errors == 0
    (trial,) = res.trials
    assert [r["started_at"] for r in trial.history] == [0, 0, 0, 3, 3, 3]
    assert trial.history[-1]["loss"] == 10 - 18
    best = res.best_checkpoint
    assert best["epoch"] == 5 and torch.equal(best["model"]["w"], torch.full((3,), 6.0))
    assert (best["np"] == np.arange(3)).all()


def returns_once(config: dict) -> dict:
    return {"score": config["x"] * 2}


def test_a_function_that_returns_a_dict_reports_it(ray_cluster, storage):
    res = hpo.run(returns_once, {"x": hpo.uniform(0, 1)}, metric="score", mode="max",
                  num_samples=3, storage=storage, verbose=0)
    assert res.num_errors == 0 and all(t.iterations == 1 for t in res.trials)
    assert res.best_metrics["score"] == max(t.config["x"] * 2 for t in res.trials)


def draws(config: dict) -> None:
    hpo.report(py=random.random(), np=float(np.random.rand()), torch=float(torch.rand(1)))


def test_trials_are_seeded_from_seed_and_trial_index(ray_cluster, storage):
    def run(name: str, seed: int | None) -> dict[str, tuple]:
        res = hpo.run(draws, {"x": hpo.uniform(0, 1)}, metric="py", num_samples=3, seed=seed,
                      storage=storage, name=name, verbose=0)
        return {t.name.split("_")[1]: (t.history[0]["py"], t.history[0]["np"], t.history[0]["torch"])
                for t in res.trials}

    first, again, other = run("a", 7), run("b", 7), run("c", 8)
    assert first == again
    assert len({v for v in first.values()}) == 3  # each trial its own seed
    assert all(first[k] != other[k] for k in first)
    random.seed(trial_seed(7, 0))
    assert first["00000"][0] == random.random()


def test_trial_index_and_seed_helpers():
    assert trial_index("trial_00012_ab12cd") == 12
    assert trial_index("something-else") == 0
    assert trial_seed(0, 1) == trial_seed(0, 1) != trial_seed(0, 2)


def test_outside_a_trial_report_does_nothing_and_there_is_no_checkpoint(monkeypatch):
    from ray import tune

    from raytune_hpo.trainable import LocalTrial

    done = []  # what report passed on: to Ray, or to a checkpoint file
    monkeypatch.setattr(tune, "report", lambda *a, **k: done.append(("tune.report", a, k)))
    monkeypatch.setattr(torch, "save", lambda *a, **k: done.append(("torch.save", a, k)))
    hpo.report(loss=1.0, checkpoint={"w": torch.ones(1)})
    hpo.report(loss=0.5)
    assert done == []
    assert hpo.load_checkpoint() is None
    with LocalTrial() as local:  # the same calls, in a trial run without Ray, are recorded
        hpo.report(loss=1.0, checkpoint={"w": torch.ones(1)})
    assert local.reports == [{"loss": 1.0, "training_iteration": 1}] and set(local.checkpoint) == {"w"}
    assert hpo.load_checkpoint() is None and done == []


def test_a_local_trial_goes_on_from_a_checkpoint_and_numbers_its_reports_from_there():
    from raytune_hpo.trainable import LocalTrial, TrialDone

    def count_to(config: dict) -> None:
        state = hpo.load_checkpoint()
        for t in range((state or {"t": 0})["t"] + 1, config["n"] + 1):
            hpo.report(value=t, checkpoint={"t": t})

    with LocalTrial(max_iterations=3) as first:
        with pytest.raises(TrialDone):
            count_to({"n": 9})
    with LocalTrial(max_iterations=5, checkpoint=first.checkpoint, done=3) as then:
        with pytest.raises(TrialDone):
            count_to({"n": 9})
    assert [r["value"] for r in first.reports + then.reports] == [1, 2, 3, 4, 5]
    assert [r["training_iteration"] for r in then.reports] == [4, 5] and then.checkpoint == {"t": 5}


def cached_build(config: dict) -> None:
    import os

    built = []
    value = hpo.cache(("table", 3), lambda: built.append(1) or torch.arange(3))
    hpo.report(loss=float(value.sum()), built=len(built), pid=os.getpid())


def test_cache_builds_once_per_worker_and_serves_later_trials(ray_cluster, storage):
    res = hpo.run(cached_build, {"x": hpo.uniform(0, 1)}, metric="loss", num_samples=8,
                  storage=storage, verbose=0)
    rows = [t.history[0] for t in res.trials]
    assert all(r["loss"] == 3.0 for r in rows)
    workers = {r["pid"] for r in rows}
    assert sum(r["built"] for r in rows) == len(workers) < 8
