"""The searcher↔scheduler contract (raytune_hpo/_contract.py): what the registries flag is
what the built objects do."""

from __future__ import annotations

import pytest

from raytune_hpo._contract import BracketFollower, BracketScheduler, RungLearner
from raytune_hpo.schedulers import REGISTRY as SCHEDULERS
from raytune_hpo.schedulers import SchedulerRequest
from raytune_hpo.searchers import REGISTRY as SEARCHERS
from raytune_hpo.space import Space
from tests.helpers import BOWL_SPACE, build_searcher


def searcher_of(name: str):
    built = build_searcher(name) if name not in ("random", "grid") else None
    return getattr(built, "searcher", built)  # under a ConcurrencyLimiter, the searcher itself


@pytest.mark.parametrize("name", [s for s in SEARCHERS if s not in ("random", "grid")])
def test_a_searcher_is_a_rung_learner_and_a_bracket_follower_exactly_where_flagged(name):
    searcher = searcher_of(name)
    info = SEARCHERS[name]
    assert isinstance(searcher, RungLearner) == info.learns_from_rungs
    assert isinstance(searcher, BracketFollower) == info.follows_brackets


@pytest.mark.parametrize("name", [s.name for s in SCHEDULERS.values() if s.searchers and "dehb" in s.searchers])
def test_the_scheduler_of_a_bracket_follower_gives_its_brackets(name):
    scheduler = SCHEDULERS[name].build(SchedulerRequest(name, Space(BOWL_SPACE), max_t=9, trials=20, learner=True))
    assert isinstance(scheduler, BracketScheduler)
    assert scheduler.plans() == [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]


def test_every_searcher_that_follows_brackets_learns_from_rungs_and_pairs_only_with_bracket_schedulers():
    for info in SEARCHERS.values():
        if info.follows_brackets:
            assert info.learns_from_rungs and info.schedulers
            assert all(SCHEDULERS[s].rungs == "hyperband" for s in info.schedulers)
