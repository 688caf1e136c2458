"""The contract between a searcher and a scheduler that runs brackets of successive halving.

Most searchers and schedulers know nothing of each other: Ray Tune asks the searcher for
configurations and the scheduler for decisions. Two searchers are written for Hyperband's
brackets, and the registry flags say which (``SearcherInfo.learns_from_rungs``,
``SearcherInfo.follows_brackets``):

- A :class:`RungLearner` (``bohb``, ``dehb``) learns from the score of every rung a trial
  reaches, and counts a trial paused at a rung as not running. The scheduler
  (:class:`~raytune_hpo.schedulers._sha.SynchronousHalving`) tells it both.
- A :class:`BracketFollower` (``dehb``) proposes each trial for the bracket it will join: it is
  given the scheduler's brackets (:class:`BracketScheduler`) once both are built, before any
  trial is proposed (:func:`raytune_hpo.runner.plan`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

Plan = Sequence[tuple[int, int]]  # a bracket: (trials, iterations) per rung


@runtime_checkable
class RungLearner(Protocol):
    """What a scheduler of brackets may ask of its searcher."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """A rung's result: ``result["hyperband_info"]["budget"]`` holds the rung's iterations."""

    def on_pause(self, trial_id: str) -> None:
        """The trial waits at a rung: it no longer counts as running."""

    def on_unpause(self, trial_id: str) -> None:
        """The trial was promoted and runs again."""


@runtime_checkable
class BracketScheduler(Protocol):
    """What a bracket-following searcher needs from its scheduler."""

    def plans(self, trials: int | None = None) -> list[Plan]:
        """The brackets of one round, in the order trials fill them, for ``trials`` trials."""
        ...


@runtime_checkable
class BracketFollower(Protocol):
    """A searcher that proposes each trial for the bracket it joins."""

    def follow_brackets(self, plans: Sequence[Plan]) -> None:
        """The scheduler's brackets, in the order trials fill them."""
