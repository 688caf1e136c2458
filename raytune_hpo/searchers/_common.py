"""What every searcher adapter shares: the request it is built from, suggestions completed
against our :class:`Space`, and concurrency limits."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raytune_hpo._library import library_options
from raytune_hpo._objectives import Objectives
from raytune_hpo._options import OptionTable
from raytune_hpo.space import Float, Space

if TYPE_CHECKING:
    from ray.tune.search import Searcher

    # The mixins below always come before a Ray ``Searcher`` in their subclasses' bases; to the
    # type checker they are Searchers, so that ``super().suggest`` and ``get_state`` resolve.
    # At run time they stay plain classes (no Ray import here).
    _SearcherMixin = Searcher
else:
    _SearcherMixin = object


@dataclass(frozen=True)
class SearcherRequest:
    """Everything a searcher factory may use. A factory returns the search algorithm and the
    ``param_space`` for Ray's Tuner: the space as Ray domains where Ray samples it, else ``{}``
    (the searcher's suggestions are complete configurations)."""

    name: str
    space: Space
    metric: str
    mode: str
    seed: int | None = None
    max_concurrent: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # Every objective and the constraints; by default the one objective above.
    objectives: Objectives = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.objectives is None:
            object.__setattr__(self, "objectives", Objectives.of(self.metric, self.mode))

    def checked_options(self, table: OptionTable) -> dict[str, Any]:
        """``searcher_options`` checked against the searcher's own table (a searcher written
        here), defaults filled in; an unknown name is refused with the valid ones."""
        return table.check(self.options, field="searcher_options", owner=f"searcher {self.name!r}")

    def library_options(
        self, target: Callable, aliases: Mapping[str, str] | None = None, reserved: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """``searcher_options`` as keyword arguments of ``target`` (see :func:`library_options`)."""
        return library_options(
            target,
            self.options,
            field="searcher_options",
            owner=f"searcher {self.name!r}",
            aliases=aliases,
            reserved=reserved,
        )


class CompletingSearcher(_SearcherMixin):
    """Mixed in before a Ray ``Searcher``: turns its raw suggestions (indices for choices,
    floats for integers, unrounded quantized values) into configurations of our space,
    constants included."""

    def __init__(self, hpo_space: Space, **kwargs: Any):
        self._hpo_space = hpo_space
        super().__init__(**kwargs)

    def suggest(self, trial_id: str):
        suggestion = super().suggest(trial_id)
        if not isinstance(suggestion, Mapping):  # None (wait) or Searcher.FINISHED
            return suggestion
        return self._hpo_space.complete(suggestion)


def searchable(request: SearcherRequest) -> dict[str, Any]:
    """The space's parameters by path; a grid or a Ray-sampled domain (only ``grid`` and
    ``random`` take them) is refused in one line naming it and this searcher."""
    return request.space.searchable(request.name)


class PickledState(_SearcherMixin):
    """``save``/``restore`` of a searcher written here, through its ``get_state``/``set_state``."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))


def build_written_here(request: SearcherRequest, searcher: type, options: OptionTable, **arguments: Any):
    """A searcher written here (``searcher``), its ``searcher_options`` checked against its
    table ``options``, defaults filled in."""
    checked = request.checked_options(options)
    return searcher(
        hpo_space=request.space,
        params=searchable(request),
        metric=request.metric,
        mode=request.mode,
        seed=request.seed,
        **arguments,
        **checked,
    )


def limit_concurrency(searcher, max_concurrent: int | None):
    if not max_concurrent:
        return searcher
    from ray.tune.search import ConcurrencyLimiter

    return ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)


def to_unit(p: Float, value: float) -> float:
    """A float parameter's value scaled to [0, 1] (its logarithm for log-scaled ones)."""
    if p.log:
        return (math.log(value) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
    return (value - p.low) / (p.high - p.low)


def from_unit(p: Float, u: float) -> float:
    """The inverse of :func:`to_unit` (unrounded: ``p.coerce`` puts it on a grid)."""
    if p.log:
        return math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
    return p.low + u * (p.high - p.low)
