"""The reference implementations' harness: a configuration evaluated again at a larger budget
goes on from its state and is charged only its extra iterations (a fresh evaluation's charge
recorded beside), jobs run two at a time on a clock of iterations, and each reference
(hpbandster's BOHB, the dehb package, plain Optuna) spends a small budget for real."""

from __future__ import annotations

import collections
import sys

import pytest

from raytune_hpo.bench._references import REFERENCES, Ledger, run_jobs
from raytune_hpo.bench.problems import MAX_T, branin, problems
from raytune_hpo.trainable import LocalTrial

BRANIN = problems()["branin"]


def config(x1: float, x2: float = 5.0) -> dict:
    return {"x1": x1, "x2": x2, "max_t": MAX_T}


def test_a_promoted_configuration_goes_on_from_its_state_and_is_charged_its_extra_iterations():
    ledger = Ledger(BRANIN, budget=100)
    list(ledger.continue_to(config(2.0), 3))
    list(ledger.continue_to(config(1.0), 3))
    list(ledger.continue_to(config(2.0), 9))  # promoted: iterations 4 to 9 only
    charged = [(r["trial"], r["training_iteration"]) for r in ledger.reports]
    assert charged == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3), *((0, t) for t in range(4, 10))]
    assert [r["reported_at"] for r in ledger.reports] == list(range(12))
    assert ledger.fresh == 3 + 3 + 9 and ledger.trials == 2
    # The reports are those of the configuration run straight through.
    with LocalTrial() as straight:
        BRANIN.trainable(config(2.0))
    assert [r["value"] for r in ledger.reports[6:]] == [r["value"] for r in straight.reports[3:9]]
    assert ledger.value(config(2.0), 9) == branin(2.0, 5.0, 9 / MAX_T)
    assert list(ledger.continue_to(config(2.0), 3)) == [] and len(ledger.reports) == 12  # done before: free


def test_jobs_run_two_at_a_time_and_an_ended_job_is_replaced_at_once():
    ledger = Ledger(BRANIN, budget=10)
    lengths = iter([3, 1, 4, 4, 4])
    started = []

    def job():
        x1 = float(len(started))
        started.append(x1)
        yield from ledger.continue_to(config(x1), next(lengths))

    run_jobs(ledger, job)
    # Rounds of one report per job, in the order they started: jobs 0 and 1 side by side; job 1
    # (one iteration) gives its place to job 2 in the next round, job 0 to job 3 after its third.
    assert [r["trial"] for r in ledger.reports] == [0, 1, 0, 2, 0, 2, 3, 2, 3, 2]
    assert ledger.exhausted and ledger.trials == 4


@pytest.mark.parametrize("pairing", sorted(REFERENCES))
def test_each_reference_spends_a_small_budget_for_real(pairing):
    record = REFERENCES[pairing](BRANIN, 7, 108)
    first = sorted(record.reports, key=lambda r: r["reported_at"])[:108]
    assert len(record.reports) >= 108
    # Multi-fidelity: many configurations stopped at 1 iteration, few run to the end.
    depth = collections.Counter(r["training_iteration"] for r in first)
    assert depth[1] > depth[MAX_T] >= 1 and record.trials >= depth[1]
    assert len({r["trial"] for r in first}) == depth[1]  # every configuration starts at iteration 1
    if pairing == "optuna-plain":  # trials run straight on, or are pruned: nothing charged twice
        assert record.fresh is None
    else:
        assert record.fresh is not None and record.fresh >= 108
    again = REFERENCES[pairing](BRANIN, 7, 108)
    if pairing != "hpbandster-bohb":  # its master's threads make its order depend on timing
        assert [r["value"] for r in again.reports] == [r["value"] for r in record.reports]


def test_without_the_dehb_package_its_pairing_says_how_to_install_it(monkeypatch):
    from raytune_hpo.errors import ConfigError

    monkeypatch.setitem(sys.modules, "dehb", None)  # as when not installed: the import fails
    with pytest.raises(ConfigError) as refused:
        REFERENCES["dehb-package"](BRANIN, 0, 27)
    assert str(refused.value).startswith(
        "pairing 'dehb-package' needs the dehb package: pip install 'raytune-hpo[bench]' && "
        "pip install --no-deps 'dehb==0.1.2'"
    )
