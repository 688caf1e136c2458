"""``gp`` and ``cmaes`` (Optuna samplers behind the shared Optuna adapter) and ``pso``
(Nevergrad behind Ray's adapter), driven directly without Ray: legal values of every kind,
what each refuses, how CMA-ES treats choices, and their state saved and restored as Ray does
for ``hpo.resume``."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

import raytune_hpo as hpo
from tests.helpers import BOWL_SPACE, EVERY_KIND_SPACE, assert_legal_every_kind, build_searcher
from tests.helpers import drive_searcher as drive

SPACE = EVERY_KIND_SPACE


def build(name: str, space=BOWL_SPACE, seed: int = 0, **options):
    return build_searcher(name, space, seed, **options)


def space_objective(c: dict) -> float:
    return (c["x"] - 0.3) ** 2 + abs(np.log10(c["lr"]) + 3) + c["drop"] + c["layers"] / 4 + (c["act"] != "gelu")


@pytest.mark.parametrize(("name", "options"), [
    ("gp", {"n_initial_points": 3}), ("cmaes", {"n_initial_points": 2}), ("pso", {"popsize": 5}),
])
def test_suggestions_are_legal_values_of_every_kind(name, options):
    # A GP suggestion on this 9-parameter space takes seconds on a loaded 2-core machine.
    configs = drive(build(name, SPACE, **options), 6 if name == "gp" else 40, objective=space_objective)
    for c in configs:
        assert_legal_every_kind(c)


def test_gp_learns_a_choice_that_matters():
    configs = drive(build("gp", n_initial_points=6), 16)
    assert sum(c["kind"] == "b" for c in configs[-6:]) >= 5, [c["kind"] for c in configs]


def test_cmaes_samples_choices_at_random_without_a_warning_per_trial(caplog):
    with caplog.at_level(logging.WARNING):
        configs = drive(build("cmaes", n_initial_points=2), 60)
    kinds = Counter(c["kind"] for c in configs)
    # the choice that matters is not learned: each option keeps about a third of the trials
    assert all(12 <= kinds[k] <= 28 for k in "abc"), kinds
    assert not [r for r in caplog.records if "independent" in r.getMessage().lower()]
    # while the numeric parameters converge towards x = 0.7, lr = 1e-2
    late = configs[-15:]
    assert np.median([abs(c["x"] - 0.7) for c in late]) < np.median([abs(c["x"] - 0.7) for c in configs[:15]])


def test_cmaes_refuses_a_space_of_choices_only():
    with pytest.raises(hpo.ConfigError) as e:
        build("cmaes", {"act": hpo.choice(["relu", "gelu"]), "opt": {"norm": hpo.choice([True, False])}})
    assert str(e.value) == (
        "space.act: searcher 'cmaes' searches numeric parameters and samples choices at random, "
        "and this space has only choices; use searcher 'gp', 'tpe' or 'hyperopt'"
    )


@pytest.mark.parametrize(("name", "option", "valid"), [
    ("gp", "n_initial", "deterministic_objective"), ("cmaes", "sigma", "sigma0"), ("pso", "swarm", "popsize"),
])
def test_unknown_options_are_named_with_the_valid_ones(name, option, valid):
    with pytest.raises(hpo.ConfigError) as e:
        build(name, **{option: 1})
    assert str(e.value).startswith(f"searcher_options.{option}: not an option of searcher '{name}'; valid:")
    assert valid in str(e.value)


@pytest.mark.parametrize(("name", "options", "before", "after"), [
    ("gp", {"n_initial_points": 4}, 6, 3), ("cmaes", {"n_initial_points": 2}, 12, 10),
    ("pso", {"popsize": 4}, 10, 10),
])
def test_saved_state_restored_into_a_fresh_searcher_continues_identically(tmp_path, name, options, before, after):
    searcher = build(name, seed=5, **options)
    drive(searcher, before)
    searcher.save_to_dir(str(tmp_path))  # what Ray does after every event; hpo.resume restores it
    restored = build(name, seed=6, **options)  # the random state is in the saved state
    restored.restore_from_dir(str(tmp_path))
    assert drive(restored, after, start=before) == drive(searcher, after, start=before)


def test_pso_swarm_size_defaults_to_10():
    searcher = build("pso")
    assert searcher.searcher._nevergrad_opt.llambda == 10
    assert build("pso", popsize=6).searcher._nevergrad_opt.llambda == 6
