"""Options declared as tables: each option's type, range and default, checked in one place.

A run's options (:class:`raytune_hpo._run_options.RunOptions`), each searcher's and each
scheduler's are declared with :class:`Option`; :class:`OptionTable` checks given values against
them, fills in the defaults, and refuses an unknown name with the valid ones. Every
message is one line naming the field and what it must be::

    >>> table = OptionTable([Option("grace_period", int, default=1, low=1)])
    >>> table.check({"grace_period": 2}, field="scheduler_options", owner="scheduler 'sha'")
    {'grace_period': 2}
    >>> table.check({"grace": 2}, field="scheduler_options", owner="scheduler 'sha'")
    Traceback (most recent call last):
    ...
    raytune_hpo.errors.ConfigError: scheduler_options.grace: not an option of scheduler 'sha'; valid: grace_period
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from raytune_hpo.errors import ConfigError

_REQUIRED = object()


def is_int(x: Any) -> bool:
    """An integer, not a bool (``True`` is an ``int`` to Python, never to a user)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_real(x: Any) -> bool:
    """A real number, not a bool; NaN and infinities included."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def is_number(x: Any) -> bool:
    """A finite real number, not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def did_you_mean(word: Any, known: Iterable[str]) -> str:
    """``; did you mean 'x'?`` with the closest known name, else ``; known: a, b, c``."""
    known = list(known)
    close = difflib.get_close_matches(str(word), known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"


def refuse_unknown(field: str, name: str, owner: str, valid: Iterable[str]) -> None:
    """``field.name: not an option of owner; valid: a, b`` (``none`` where it takes none)."""
    raise ConfigError(f"{field}.{name}: not an option of {owner}; valid: {', '.join(sorted(valid)) or 'none'}")


@dataclass(frozen=True)
class Option:
    """One option: its name, type (``int``, ``float`` for any finite number, ``str``, ``bool``,
    ``dict``), default, and range (``low``/``high`` inclusive; ``above`` exclusive), or
    ``choices``. ``check`` replaces the type and range check for an option that needs more
    (it takes the field's name and the value, and returns the value to use). ``unit`` ends a
    number's description (``a positive number of seconds``)."""

    name: str
    type: type = float
    default: Any = None
    low: float | None = None
    high: float | None = None
    above: float | None = None
    choices: tuple[Any, ...] = ()
    unit: str = ""
    check: Callable[[str, Any], Any] | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def validate(self, field: str, value: Any) -> Any:
        """``value`` checked (None is the absent value, let through), or a ConfigError naming
        ``field`` and what it must be."""
        if self.check is not None:
            return self.check(field, value)
        if value is None:
            return value
        if not self._fits(value):
            raise ConfigError(f"{field}: must be {self.expects()}, got {value!r}")
        return value

    def _fits(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        if self.type is int and not is_int(value):
            return False
        if self.type is float and not is_number(value):
            return False
        if self.type is str:
            return isinstance(value, str) and bool(value)
        if self.type is bool:
            return isinstance(value, bool)
        if self.type is dict:
            return isinstance(value, Mapping)
        return (
            (self.low is None or value >= self.low)
            and (self.high is None or value <= self.high)
            and (self.above is None or value > self.above)
        )

    def expects(self) -> str:
        """What a value must be, as a sentence's object: ``a positive integer``."""
        if self.choices:
            return " or ".join(repr(c) for c in self.choices)
        if self.type is str:
            return "a non-empty string"
        if self.type is bool:
            return "true or false"
        if self.type is dict:
            return "a dict"
        noun = "integer" if self.type is int else "number"
        a = "an" if noun == "integer" else "a"
        unit = f" {self.unit}" if self.unit else ""
        lower = f"[{self.low:g}" if self.low is not None else f"({self.above:g}" if self.above is not None else None
        if lower is not None and self.high is not None:
            return f"{a} {noun}{unit} in {lower}, {self.high:g}]"
        if self.above == 0 or (self.type is int and self.low == 1):
            return f"a positive {noun}{unit}"
        if self.low == 0:
            return f"a non-negative {noun}{unit}"
        if self.low is not None:
            return f"{a} {noun}{unit} >= {self.low:g}"
        if self.above is not None:
            return f"{a} {noun}{unit} > {self.above:g}"
        return f"{a} {noun}{unit}"


REQUIRED = _REQUIRED


class OptionTable:
    """The options of one searcher, scheduler or run, by name."""

    def __init__(self, options: Iterable[Option]):
        self.options = {o.name: o for o in options}

    def __iter__(self):
        return iter(self.options.values())

    def only(self, *names: str) -> OptionTable:
        """The table of these options alone (a scheduler that takes fewer than another)."""
        return OptionTable(self.options[n] for n in names)

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self if not o.required}

    def check(self, given: Mapping[str, Any] | None, *, field: str, owner: str) -> dict[str, Any]:
        """``given`` over the defaults, each value checked; an unknown name is refused with
        the valid ones."""
        given = dict(given or {})
        for name in given:
            if name not in self.options:
                refuse_unknown(field, name, owner, self.options)
        values = {**self.defaults(), **given}
        return {name: self.options[name].validate(f"{field}.{name}", value) for name, value in values.items()}
