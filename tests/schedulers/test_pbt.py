"""PBT's exploit step really hands the donor's state over, and explored configurations stay
inside the space."""

from __future__ import annotations

import time

import torch

import raytune_hpo as hpo


def climber(config: dict) -> None:
    """Climbs by ``lr`` per step from ``init``; every report says where this run segment
    started from (its own fresh start, or a checkpoint of some trial at some step)."""
    from ray import tune

    me = tune.get_context().get_trial_name()
    state = hpo.load_checkpoint()
    if state is None:
        w, step, origin = torch.tensor([config["init"]]), 0, {"owner": me, "step": 0, "w": config["init"]}
    else:
        w, step = state["w"], state["step"]
        origin = {"owner": state["owner"], "step": state["step"], "w": float(state["w"][0])}
    for _ in range(step, 12):
        time.sleep(config.get("pause", 0))
        step += 1
        w = w + config["lr"] * config["n"]
        hpo.report(
            score=float(w[0]), step=step, n=config["n"],
            origin_owner=origin["owner"], origin_step=origin["step"], origin_w=origin["w"],
            checkpoint={"w": w, "step": step, "owner": me},
        )


SPACE = {"init": hpo.uniform(0.0, 10.0), "lr": hpo.uniform(0.1, 1.0), "n": hpo.randint(1, 4)}


def test_exploit_continues_from_the_donors_step_and_weights(ray_cluster, storage):
    res = hpo.run(
        climber, SPACE, metric="score", mode="max", searcher="random", scheduler="pbt",
        num_samples=4, max_t=12, seed=0, resources={"cpu": 0.5}, storage=storage, name="pbt",
        scheduler_options={"perturbation_interval": 2, "quantile_fraction": 0.25}, verbose=0,
    )
    assert res.num_errors == 0
    by_name = {t.name: t for t in res.trials}
    handovers = [
        (t, r) for t in res.trials for r in t.history if r["origin_owner"] != t.name
    ]
    assert handovers, "PBT never exploited"
    for receiver, report in handovers:
        donor = by_name[report["origin_owner"]]
        # The donor reported that step with those weights (a donor that was itself a receiver
        # may have reported the same step number twice: once per segment).
        saved = [r for r in donor.history if r["step"] == report["origin_step"]]
        assert saved, f"{donor.name} never reported step {report['origin_step']}"
        assert report["origin_w"] in [r["score"] for r in saved]
        first_after = min(
            (r for r in receiver.history if r["origin_owner"] == donor.name and r["origin_step"] == report["origin_step"]),
            key=lambda r: r["step"],
        )
        assert first_after["step"] == report["origin_step"] + 1
        expected = report["origin_w"] + first_after["config"]["lr"] * first_after["config"]["n"]
        assert abs(first_after["score"] - expected) < 1e-4


def test_no_report_is_lost_when_trials_restart_from_checkpoints(ray_cluster, storage):
    """Each trial's history is its reports in order: a row follows the previous one's step,
    or starts a segment right after the checkpoint it was handed."""
    res = hpo.run(
        # 8 trials, 4 at a time: the first four end (and the experiment is saved) while
        # the others still run and exploit.
        climber, {**SPACE, "pause": 0.05}, metric="score", mode="max", scheduler="pbt", num_samples=8, max_t=12,
        seed=2, resources={"cpu": 0.5}, storage=storage, name="pbt",
        scheduler_options={"perturbation_interval": 2, "quantile_fraction": 0.25}, verbose=0,
    )
    restarts = 0
    for trial in res.trials:
        previous = None
        for row in trial.history:
            origin = (row["origin_owner"], row["origin_step"])
            if previous is not None and origin == (previous["origin_owner"], previous["origin_step"]):
                assert row["step"] == previous["step"] + 1, (trial.name, [r["step"] for r in trial.history])
            else:
                assert row["step"] == row["origin_step"] + 1, (trial.name, [r["step"] for r in trial.history])
                restarts += previous is not None
            previous = row
        assert previous["step"] == 12
    assert restarts > 0


def test_explored_configurations_stay_in_the_space(ray_cluster, storage):
    res = hpo.run(
        climber, SPACE, metric="score", mode="max", scheduler="pbt", num_samples=4, max_t=12,
        seed=1, resources={"cpu": 0.5}, storage=storage, name="pbt",
        scheduler_options={"perturbation_interval": 2, "quantile_fraction": 0.25,
                           "resample_probability": 0.0}, verbose=0,
    )
    configs = [r["config"] for t in res.trials for r in t.history]
    assert len({r["config"]["lr"] for t in res.trials for r in t.history}) > 4, "nothing explored"
    for c in configs:
        assert 0.1 <= c["lr"] <= 1.0 and 0.0 <= c["init"] <= 10.0
        assert type(c["n"]) is int and 1 <= c["n"] <= 3
