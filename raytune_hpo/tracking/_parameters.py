"""The parameters of an experiment as its run table holds them: which vary from trial to trial
(the rest are constants), and whether each is a number or a category, on a log scale or not.

The search space is not kept with the results (``trainable.pkl`` holds the function only), so
kind and scale are read from the values the trials took: a column of numbers is numeric, any
other a category; positive numbers spanning two decades or more are on a log scale (as
``loguniform`` ranges usually are). The plots and the importance analysis share this reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from raytune_hpo._options import is_real

CONFIG_PREFIX = "config."
LOG_SPAN = 100.0  # max / min from which positive values are shown on a log scale


@dataclass(frozen=True)
class Parameter:
    """One varying parameter: its values, one per row of the run table (None where missing)."""

    name: str  # dotted, as in the run table's ``config.<name>``
    values: tuple[Any, ...]
    categories: tuple[str, ...] | None  # labels, in axis order; None for a numeric parameter
    integer: bool
    log: bool

    @property
    def numeric(self) -> bool:
        return self.categories is None

    def positions(self) -> list[float]:
        """Each value as a coordinate: the number (its log10 on a log scale), or the index of
        its category; NaN where missing."""
        if self.categories is not None:
            index = {label: i for i, label in enumerate(self.categories)}
            return [math.nan if _missing(v) else float(index[label(v)]) for v in self.values]
        return [math.nan if _missing(v) else (math.log10(v) if self.log else float(v)) for v in self.values]


def label(value: Any) -> str:
    """A category's label as users wrote it: ``sgd``, ``True``, ``[32, 64]``."""
    return value if isinstance(value, str) else str(value)


def parameters(frame) -> list[Parameter]:
    """The config columns of a run table that take more than one value, as parameters."""
    found = []
    for column in frame.columns:
        if not column.startswith(CONFIG_PREFIX):
            continue
        values = tuple(None if _missing(v) else v for v in frame[column].tolist())
        present = [v for v in values if v is not None]
        if len({label(v) for v in present}) < 2:
            continue
        name = column[len(CONFIG_PREFIX) :]
        if all(is_real(v) for v in present):
            integer = all(float(v).is_integer() for v in present)
            log = min(present) > 0 and max(present) / min(present) >= LOG_SPAN
            found.append(Parameter(name, values, None, integer, log))
        else:
            categories = tuple(sorted({label(v) for v in present}))
            found.append(Parameter(name, values, categories, False, False))
    return found


def constants(frame) -> dict[str, Any]:
    """The config columns of a run table that every trial shares: name -> value."""
    found = {}
    for column in frame.columns:
        if column.startswith(CONFIG_PREFIX):
            present = [v for v in frame[column].tolist() if not _missing(v)]
            if present and len({label(v) for v in present}) == 1:
                found[column[len(CONFIG_PREFIX) :]] = present[0]
    return found


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
