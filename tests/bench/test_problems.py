"""The benchmark's problems: their known optima, fidelity axes that never beat the truth
(Hartmann-6, Branin-Currin), counting-ones' noise shrinking with iterations, and digits' learning
curves (against its size too), run in this process with :class:`LocalTrial`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raytune_hpo._objectives import hypervolume
from raytune_hpo.bench.problems import MAX_T, augmented_branin, branin, branin_currin, currin, hartmann6, problems
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


@pytest.mark.parametrize("name", ["branin", "hartmann6"])
def test_seconds_per_iteration_makes_each_iteration_take_that_long_and_changes_no_value(name):
    paced = curve(name, {**CONFIGS[name], "max_t": 4, "seconds_per_iteration": 0.05})
    assert all(b["reported_at"] - a["reported_at"] >= 0.05 for a, b in zip(paced, paced[1:]))
    plain = curve(name, {**CONFIGS[name], "max_t": 4})
    assert [r["value"] for r in paced] == [r["value"] for r in plain]


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


# -- Branin-Currin ---------------------------------------------------------------------------

BRANIN_MINIMA = [((-math.pi + 5) / 15, 12.275 / 15), ((math.pi + 5) / 15, 2.275 / 15), ((9.42478 + 5) / 15, 2.475 / 15)]


def test_branin_currin_at_full_fidelity_is_botorchs():
    for x1, x2 in BRANIN_MINIMA:  # Branin's three minima, rescaled to [0, 1]²
        assert branin_currin(x1, x2)[0] == pytest.approx(0.397887, abs=1e-6)
    # Currin: its minimum on [0, 1]², 3 (1 - exp(-1/2)) at (0, 1); at x2 = 0 the exponential
    # term vanishes (torch's exp(-inf) = 0), leaving the rational function; a value inside.
    assert currin(0.0, 1.0) == pytest.approx(3 * (1 - math.exp(-0.5)), rel=1e-12) == pytest.approx(1.180408, abs=1e-6)
    assert currin(0.0, 0.0) == 3.0 and currin(1.0, 0.0) == pytest.approx(6352 / 624)
    assert currin(0.5, 0.5) == pytest.approx((1 - math.exp(-1)) * 1868.5 / 159.5)
    assert branin_currin(0.3, 0.7) == (branin(15 * 0.3 - 5, 15 * 0.7), currin(0.3, 0.7))
    # The front of a 400 x 400 grid comes close to BoTorch's largest hypervolume (59.36, found
    # with NSGA-II) against its reference point [18, 6], and not above it.
    problem = SUITE["branin_currin"]
    assert problem.reference == (18.0, 6.0) and problem.objectives == ("branin", "currin")
    grid = np.linspace(0, 1, 400)
    volume = hypervolume(_front([branin_currin(a, b) for a in grid for b in grid]), problem.reference)
    assert 58.5 < volume <= problem.optimum


def _front(points):
    """The non-dominated points of many, in two dimensions."""
    front, lowest = [], math.inf
    for x, y in sorted(points):
        if y < lowest:
            front.append((x, y))
            lowest = y
    return front


def test_branin_currins_low_fidelities_are_never_better_than_the_truth():
    grid = [(a, b) for a in np.linspace(0, 1, 41) for b in np.linspace(0, 1, 41)]
    fidelities = (0.0, 1 / MAX_T, 1 / 3, 0.7, 1.0)
    for x1, x2 in grid:
        truth = branin_currin(x1, x2)
        for z in fidelities:
            low = branin_currin(x1, x2, z)
            assert low[0] >= truth[0] and low[1] >= truth[1]  # weakly dominated by the truth
        currins = [currin(x1, x2, z) for z in fidelities]
        assert currins == sorted(currins, reverse=True)
    # Hence the hypervolume of a set of configurations at low fidelity is at most theirs at
    # full fidelity, here strictly less at the lowest.
    reference = SUITE["branin_currin"].reference
    at = {z: _front([branin_currin(a, b, z) for a, b in grid]) for z in fidelities}
    volumes = [hypervolume(at[z], reference) for z in fidelities]
    assert volumes == sorted(volumes) and volumes[0] < volumes[-1]


def test_a_branin_currin_trial_reports_both_objectives_at_each_fidelity():
    reports = curve("branin_currin", {"x1": 0.2, "x2": 0.6})
    assert [(r["branin"], r["currin"]) for r in reports] == [
        branin_currin(0.2, 0.6, t / MAX_T) for t in range(1, MAX_T + 1)
    ]


def test_digits_size_reports_the_loss_and_the_networks_size():
    config = {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "width": 32, "depth": 2, "batch_size": 64}
    reports = curve("digits_size", config)
    n_params = 64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10
    assert {(r["n_params"], r["log10_params"]) for r in reports} == {(n_params, math.log10(n_params))}
    losses = [r["val_loss"] for r in reports]
    assert len(losses) == MAX_T and losses[-1] < losses[0] < math.log(10)
    assert SUITE["digits_size"].objectives == ("val_loss", "log10_params")


def test_shares_beating_count_the_configurations_whose_value_at_each_iteration_reaches_the_target():
    from raytune_hpo.bench.problems import shares_beating
    from raytune_hpo.searchers._bohb import to_configspace
    from raytune_hpo.space import Space

    shares = shares_beating(SUITE["branin"], 5.0, (1, 9, MAX_T), configs=300, seed=4)
    sample = to_configspace(Space(SUITE["branin"].space), seed=4).sample_configuration(300)
    truth = sum(branin(c["x1"], c["x2"]) <= 5.0 for c in sample) / 300
    assert shares[MAX_T] == truth > 0
    # A low fidelity is never better than the truth: fewer configurations show the target there.
    assert shares[1] <= shares[9] <= shares[MAX_T]
