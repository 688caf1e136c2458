"""The benchmark's problems: their known optima, fidelity axes that never beat the truth
(Hartmann-6), counting-ones' noise shrinking with iterations, and digits' learning curves, run
in this process with :class:`LocalTrial`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raytune_hpo.bench.problems import MAX_T, augmented_branin, branin, hartmann6, problems
from raytune_hpo.trainable import LocalTrial, TrialDone

SUITE = problems()


def curve(name: str, config: dict) -> list[dict]:
    with LocalTrial() as trial:
        SUITE[name].trainable({"max_t": MAX_T, **config})
    return trial.reports


def test_branin_and_hartmann6_reach_their_known_optima_at_full_fidelity():
    for x1, x2 in ((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)):
        assert branin(x1, x2) == pytest.approx(0.397887, abs=1e-6)
    x_star = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
    assert hartmann6(np.array(x_star)) == pytest.approx(SUITE["hartmann6"].optimum, abs=1e-5)


def test_low_fidelities_are_never_better_than_the_truth():
    rng = np.random.default_rng(0)
    for x in rng.random((200, 6)):
        values = [hartmann6(x, z) for z in (0.0, 0.3, 0.7, 1.0)]
        assert values == sorted(values, reverse=True)
        x1, x2 = -5 + 15 * x[0], 15 * x[1]
        assert min(branin(x1, x2, z) for z in (0.0, 0.3, 0.7)) >= branin(x1, x2)
    # Unlike BoTorch's augmented Branin alone, whose low fidelities go below the truth.
    assert augmented_branin(-4.0, 12.0, 0.0) < augmented_branin(-4.0, 12.0) == branin(-4.0, 12.0)


CONFIGS = {
    "branin": {"x1": 2.0, "x2": 5.0},
    "hartmann6": {f"x{i}": 0.1 * i for i in range(1, 7)},
    "counting_ones": {**{f"b{i}": i % 2 for i in range(8)}, **{f"p{i}": 0.5 for i in range(8)}},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_trial_reports_max_t_iterations_and_the_truth(name):
    reports = curve(name, CONFIGS[name])
    assert [r.keys() >= {"value", "true_value", "reported_at"} for r in reports] == [True] * MAX_T
    if name == "branin":
        assert reports[-1]["value"] == branin(2.0, 5.0)
        assert reports[0]["value"] == branin(2.0, 5.0, 1 / MAX_T)
    if name == "counting_ones":
        assert {r["true_value"] for r in reports} == {-8.0}
    else:
        assert all(r["value"] == r["true_value"] for r in reports)


def test_counting_ones_estimates_converge_and_repeat_for_the_same_configuration():
    config = CONFIGS["counting_ones"]
    first, again = curve("counting_ones", config), curve("counting_ones", config)
    assert [r["value"] for r in first] == [r["value"] for r in again]
    errors = [abs(r["value"] - r["true_value"]) for r in first]
    assert np.mean(errors[-5:]) < np.mean(errors[:5])
    assert len({r["value"] for r in curve("counting_ones", {**config, "p0": 0.6})} - {r["value"] for r in first}) > 0


def test_a_paused_trial_goes_on_from_its_rung_checkpoint():
    config = {"x1": 1.0, "x2": 2.0}
    with LocalTrial(max_iterations=3) as trial:
        with pytest.raises(TrialDone):
            SUITE["branin"].trainable({"max_t": MAX_T, **config})
    assert trial.checkpoint == {"iteration": 3}


def test_digits_learning_curve_improves():
    reports = curve("digits", {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "width": 64, "batch_size": 64})
    values = [r["value"] for r in reports]
    assert len(values) == MAX_T and values[-1] < values[0] < math.log(10)
