"""Search-space primitives, their validation, and what every searcher needs of a space.

A search space is a dict, possibly nested, whose leaves are parameters (made by the functions
below, or Ray Tune domains such as ``tune.uniform``) or constants, which pass through unchanged::

    >>> import raytune_hpo as hpo
    >>> space = hpo.Space({
    ...     "lr": hpo.loguniform(1e-4, 1e-1),
    ...     "optim": {"momentum": hpo.uniform(0.5, 0.99), "name": "sgd"},
    ...     "layers": hpo.randint(1, 5),          # 1..4: the upper bound is exclusive, as in Ray
    ... })
    >>> sorted(space.params)
    ['layers', 'lr', 'optim/momentum']
    >>> space.complete({"lr": 0.01, "optim/momentum": 0.9, "layers": 2.7})
    {'lr': 0.01, 'optim': {'momentum': 0.9, 'name': 'sgd'}, 'layers': 3}

Parameters are addressed by their path joined with ``/`` (Ray's convention, which its search
adapters flatten and unflatten with); messages to users write the path with dots.

Every searcher library gets the same space. Each library's converter lives next to its
adapter in :mod:`raytune_hpo.searchers` (``to_hyperopt`` in ``_hyperopt``, ``to_optuna`` in
``_optuna`` for ``optuna``, ``gp`` and ``cmaes``, ``to_configspace`` in ``_bohb``, Nevergrad's
parametrization in ``_pso``), built on :meth:`Space.searchable`; :meth:`Space.to_ray` stays
here, as Ray's own searchers (``random``, ``grid``) and PBT share it. :meth:`Space.complete`
turns whatever a library suggests back into a configuration of the right types: integers as
``int``, quantized floats on their grid, choices as the original objects. Choices travel to
the libraries as indices, so any object (a list, a dict, ``None``) can be a choice.
Quantization travels where the library has it and is applied by :meth:`complete` in any case.

Conditional spaces. A ``choice`` whose options hold parameters is a *branch*: the searcher picks
an option, and only that option's parameters exist in the trial's configuration. Lists may hold
parameters too, and branches nest to any depth::

    >>> space = hpo.Space({
    ...     "optimizer": hpo.choice([
    ...         {"name": "sgd", "lr": hpo.loguniform(1e-3, 1e-1), "momentum": hpo.uniform(0.5, 0.99)},
    ...         {"name": "adam", "lr": hpo.loguniform(1e-4, 1e-2)},
    ...     ]),
    ...     "width": [hpo.choice([64, 128]), hpo.choice([64, 128])],
    ... })
    >>> space.conditional, sorted(space.params)
    (True, ['optimizer', 'optimizer[0]/lr', 'optimizer[0]/momentum', 'optimizer[1]/lr', 'width[0]', 'width[1]'])
    >>> space.complete({"optimizer": 1, "optimizer[1]/lr": 0.001, "width[0]": 0, "width[1]": 1})
    {'optimizer': {'name': 'adam', 'lr': 0.001}, 'width': [64, 128]}

A parameter inside option ``i`` of a branch, or at position ``i`` of a list, has the path of
the branch or list with ``[i]`` appended (``optimizer[1]/lr``; users read ``optimizer[1].lr``),
never a prefix of the branch's own path, so that the branch's index and its options' values
live side by side in a flat suggestion. :attr:`Space.conditions` says which branch options a
parameter needs; :meth:`Space.active` which parameters a choice of options leaves.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from raytune_hpo._options import is_int, is_number
from raytune_hpo.errors import ConfigError

SEP = "/"


@dataclass(frozen=True)
class Float:
    """A float in [low, high], log-scaled and/or quantized to multiples of ``q``."""

    low: float
    high: float
    log: bool = False
    q: float | None = None

    def check(self) -> str | None:
        if not is_number(self.low) or not is_number(self.high):
            return f"bounds must be finite numbers, got ({self.low!r}, {self.high!r})"
        if not self.low < self.high:
            return f"low must be below high, got low={self.low} high={self.high}"
        if self.log and self.low <= 0:
            return f"log-scaled bounds must be > 0, got low={self.low}"
        if self.q is not None:
            if not is_number(self.q) or self.q <= 0:
                return f"q must be a positive number, got q={self.q!r}"
            if self.q > self.high - self.low:
                return f"q={self.q} is wider than the range [{self.low}, {self.high}]"
        return None

    def coerce(self, value: Any) -> float:
        value = min(max(float(value), self.low), self.high)
        if self.q is not None:
            value = _quantize(value, self.q, self.low, self.high)
        return value


@dataclass(frozen=True)
class Integer:
    """An integer in [low, high) (upper bound exclusive, as in Ray), optionally log-scaled or
    restricted to multiples of ``q``."""

    low: int
    high: int
    log: bool = False
    q: int | None = None

    def check(self) -> str | None:
        if not is_int(self.low) or not is_int(self.high):
            return f"bounds must be integers, got ({self.low!r}, {self.high!r})"
        if not self.low < self.high:
            return f"low must be below high (high is exclusive), got low={self.low} high={self.high}"
        if self.log and self.low < 1:
            return f"log-scaled bounds must be >= 1, got low={self.low}"
        if self.q is not None and (not is_int(self.q) or self.q < 1):
            return f"q must be a positive integer, got q={self.q!r}"
        return None

    def coerce(self, value: Any) -> int:
        value = min(max(int(round(float(value))), self.low), self.high - 1)
        if self.q is not None:
            value = int(_quantize(value, self.q, self.low, self.high - 1))
        return value


@dataclass(frozen=True)
class Choice:
    """One of ``options``; any objects, compared by position."""

    options: tuple

    def check(self) -> str | None:
        if not self.options:
            return "choice needs at least one option, got an empty list"
        return None

    def coerce(self, value: Any) -> Any:
        """``value`` is an option's index, as every searcher library sees choices."""
        return copy.deepcopy(self.options[int(value)])


@dataclass(frozen=True)
class Grid:
    """Every one of ``values``, in turn (searchers ``grid`` and ``random`` only)."""

    values: tuple

    def check(self) -> str | None:
        if not self.values:
            return "grid needs at least one value, got an empty list"
        return None

    def coerce(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class RayDomain:
    """A Ray Tune domain with no equivalent above (``sample_from``, ``randn``...): Ray samples
    it, so only the searchers that use Ray's own sampling (``random``, ``grid``) take it."""

    domain: Any

    def check(self) -> str | None:
        return None

    def coerce(self, value: Any) -> Any:
        return value


Param = Float | Integer | Choice | Grid | RayDomain


def uniform(low: float, high: float) -> Float:
    """A float drawn uniformly from [low, high]."""
    return Float(low, high)


def loguniform(low: float, high: float) -> Float:
    """A float in [low, high] whose logarithm is uniform; both bounds > 0."""
    return Float(low, high, log=True)


def quniform(low: float, high: float, q: float) -> Float:
    """A uniform float rounded to a multiple of ``q``: ``quniform(0, 0.5, 0.1)`` is one of
    0.0, 0.1, ..., 0.5."""
    return Float(low, high, q=q)


def qloguniform(low: float, high: float, q: float) -> Float:
    """A log-uniform float rounded to a multiple of ``q``."""
    return Float(low, high, log=True, q=q)


def randint(low: int, high: int) -> Integer:
    """An integer in [low, high): ``randint(1, 5)`` is 1, 2, 3 or 4."""
    return Integer(low, high)


def choice(options) -> Choice:
    """One of ``options``, which may be any objects."""
    return Choice(tuple(options))


def grid(values) -> Grid:
    """Every one of ``values`` in turn: the experiment runs the cartesian product of all grids."""
    return Grid(tuple(values))


class Space:
    """A validated search space: its parameters by path, the constants around them, and, where
    choices hold parameters, its branches (see the module's docstring)."""

    spec: Mapping[str, Any]
    params: dict[str, Param]
    # For each parameter, the branch options it needs, outermost first: (branch path, index).
    conditions: dict[str, tuple[tuple[str, int], ...]]
    # The choices whose options hold parameters, by path.
    branch_points: dict[str, Choice]

    def __init__(self, spec: Mapping[str, Any] | Space):
        if isinstance(spec, Space):
            spec = spec.spec
        if not isinstance(spec, Mapping):
            raise ConfigError(f"space: must be a dict of parameter names to parameters, got {type(spec).__name__}")
        self.spec = spec
        self.params, self.conditions, self.branch_points = {}, {}, {}
        self._collect(spec, (), ())
        if not self.params:
            raise ConfigError("space: has no parameter to search; add one, e.g. 'lr': hpo.loguniform(1e-4, 1e-1)")

    def _collect(self, node: Any, path: tuple[str, ...], needs: tuple[tuple[str, int], ...]) -> None:
        if isinstance(node, Mapping) and _as_param(node) is None:
            for key, value in node.items():
                if not isinstance(key, str) or not key or SEP in key or "[" in key:
                    raise ConfigError(
                        f"space: parameter name {display(path + (str(key),))!r} must be a non-empty "
                        f"string without '{SEP}' or '['"
                    )
                self._collect(value, path + (key,), needs)
            return
        if isinstance(node, (list, tuple)):
            if _holds_params(node):
                for i, value in enumerate(node):
                    self._collect(value, _indexed(path, i), needs)
            return
        param = _as_param(node)
        if param is None:  # a constant
            return
        problem = param.check()
        if problem:
            raise ConfigError(f"space.{display(path)}: {problem}")
        if needs and isinstance(param, Grid):
            raise ConfigError(
                f"space.{display(path)}: a grid inside a branch would make the number of trials "
                "depend on the branches drawn; use hpo.choice(...) there, or move the grid outside"
            )
        name = SEP.join(path)
        self.params[name], self.conditions[name] = param, needs
        if isinstance(param, Choice) and _holds_params(param.options):
            self.branch_points[name] = param
            for i, option in enumerate(param.options):
                self._collect(option, _indexed(path, i), needs + ((name, i),))

    @property
    def conditional(self) -> bool:
        """Whether some choice's options hold parameters."""
        return bool(self.branch_points)

    def active(self, values: Mapping[str, Any]) -> list[str]:
        """The parameters that exist once the branches in ``values`` (flat, a branch's option
        index at its path) are chosen, in the space's order."""
        return [
            name
            for name, needs in self.conditions.items()
            if all(b in values and int(values[b]) == i for b, i in needs)
        ]

    def branches(self) -> list[dict[str, int]]:
        """Every combination of branch options, nested branches included: the option index of
        each branch that exists in it. ``[{}]`` when the space has no branch."""
        combos: list[dict[str, int]] = [{}]
        for name, branch in self.branch_points.items():
            grown: list[dict[str, int]] = []
            for combo in combos:
                if all(combo.get(b) == i for b, i in self.conditions[name]):
                    grown.extend({**combo, name: i} for i in range(len(branch.options)))
                else:
                    grown.append(combo)
            combos = grown
        return combos

    def describe(self, most: int = 12) -> list[str]:
        """Lines for a dry run: the number of parameters and, in a conditional space, each
        combination of branch options (``most`` of them) with the parameters it leaves."""
        branches = self.branches()
        if not self.conditional:
            return [f"space: {len(self.params)} parameters"]
        lines = [f"space: {len(self.params)} parameters in {len(branches)} branches (a trial draws one):"]
        for combo in branches[:most]:
            chosen = " ".join(f"{display(b)}[{i}]" for b, i in combo.items())
            rest = [display(n) for n in self.active(combo) if n not in combo]
            lines.append(f"  {chosen}: {', '.join(rest) or 'no other parameter'}")
        if len(branches) > most:
            lines.append(f"  ... and {len(branches) - most} more")
        return lines

    def size(self, kinds: tuple[type, ...]) -> int:
        """How many configurations Ray's variant generator makes of one sample when it expands
        the parameters of ``kinds`` (``Grid``, and ``Choice`` for searcher ``grid``): the
        product of their sizes, a branch counting, when choices are expanded, the sum of its
        options' sizes (grids are never inside a branch)."""

        def count(node: Any, path: tuple[str, ...]) -> int:
            name = SEP.join(path)
            if name in self.branch_points:
                options = self.branch_points[name].options
                return sum(count(o, _indexed(path, i)) for i, o in enumerate(options)) if Choice in kinds else 1
            if name in self.params:
                p = self.params[name]
                if isinstance(p, Grid) and Grid in kinds:
                    return len(p.values)
                return len(p.options) if isinstance(p, Choice) and Choice in kinds else 1
            return math.prod(count(child, child_path) for _, child, child_path in _children(node, path))

        return count(self.spec, ())

    def names_of(self, kind: type) -> list[str]:
        return [display(name) for name, p in self.params.items() if isinstance(p, kind)]

    # -- from a searcher's suggestion back to a configuration ---------------------------------

    def complete(self, values: Mapping[str, Any]) -> dict:
        """The full, nested configuration from a suggestion: ``values`` maps each active
        parameter's path (flat, or nested as dicts) to the library's raw value, a branch's to
        the index of its option; each is coerced to its parameter's type and set among the
        constants. Values of parameters in options not chosen are ignored."""
        flat = flatten(values)
        missing = [display(name) for name in self.active(flat) if name not in flat]
        if missing:
            raise ValueError(f"the searcher suggested no value for {', '.join(missing)}")
        return self._build(
            lambda name, p: p.coerce(flat[name]),
            lambda name, option: option(int(flat[name])),
        )

    def values_of(self, config: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> dict[str, Any] | str:
        """The inverse of :meth:`complete`: a configuration (of an earlier experiment, say) as a
        searcher's raw values in this space, for the parameters it leaves active (a branch's
        option found by its constants and shape, a choice by its option), or why it has none
        in this space: a parameter with no value (``defaults``, by dotted path, gives one), a
        value outside its parameter, no option of a branch that matches. Parameters of the
        configuration that this space does not have, and constants, are left out."""
        defaults = defaults or {}
        values: dict[str, Any] = {}

        def walk(node: Any, given: Any, path: tuple[str, ...]) -> str | None:
            name = SEP.join(path)
            if name in self.branch_points:
                if given is _ABSENT:
                    return f"{display(name)} has no value"
                options = self.branch_points[name].options
                fits = [_fit(option, given) for option in options]
                if max(fits) < 0:
                    return f"no option of {display(name)} matches"
                i = fits.index(max(fits))  # the first of those it fits best
                values[name] = i
                return walk(options[i], given, _indexed(path, i))
            if name in self.params:
                if given is _ABSENT:
                    given = defaults.get(display(name), _ABSENT)
                    if given is _ABSENT:
                        return f"{display(name)} has no value"
                raw = _raw(self.params[name], given)
                if raw is _ABSENT:
                    return f"{display(name)} outside the space"
                values[name] = raw
                return None
            inside: Any = {}  # the configuration's parts, by key or index
            if isinstance(node, Mapping) and isinstance(given, Mapping):
                inside = given
            elif isinstance(node, (list, tuple)) and isinstance(given, (list, tuple)) and len(given) == len(node):
                inside = dict(enumerate(given))
            for key, child, child_path in _children(node, path):
                reason = walk(child, inside.get(key, _ABSENT), child_path)
                if reason:
                    return reason
            return None

        reason = walk(self.spec, config, ())
        return reason if reason else values

    def values_found(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """For a configuration :meth:`values_of` cannot map whole: each parameter's raw value
        (as :meth:`values_of` gives it) where ``config`` holds one of its values at the
        parameter's own path (branches are not followed)."""
        flat = flatten(config)
        found = {}
        for name, param in self.params.items():
            raw = _raw(param, flat[name]) if name in flat else _ABSENT
            if raw is not _ABSENT:
                found[name] = raw
        return found

    def project(self, config: Mapping[str, Any]) -> dict:
        """``config`` with every value moved into its parameter's domain (clipped, rounded,
        cast). PBT's perturbations multiply values by a factor; this keeps them legal."""
        projected = copy.deepcopy(dict(config))
        for name, param in self.params.items():
            keys = name.split(SEP)
            value = _get(projected, keys)
            if isinstance(param, (Float, Integer)) and isinstance(value, numbers.Real):
                _set(projected, keys, param.coerce(value))
        return projected

    # -- the experiment's record ----------------------------------------------------------------

    def to_json(self, jsonable: Callable[[Any], Any]) -> Any:
        """The space as JSON: ``hpo.json`` keeps it for what reads an experiment without its code
        (the Optuna export). A parameter is ``{"$param": kind, ...its fields}``; constants, choice
        options and grid values JSON cannot hold are written as ``jsonable`` writes them (the
        journal's way with configurations), so that they compare equal to the recorded trials'
        values. A Ray-sampled domain is ``{"$param": "ray"}``: only the trials' values say
        what it took.

            >>> Space({"lr": loguniform(1e-4, 0.1), "act": choice([None, "relu"]), "n": 3}).to_json(str)
            {'lr': {'$param': 'float', 'low': 0.0001, 'high': 0.1, 'log': True, 'q': None}, \
'act': {'$param': 'choice', 'options': [None, 'relu']}, 'n': 3}
            >>> Space.from_json(_)
            Space({'lr': Float(low=0.0001, high=0.1, log=True, q=None), \
'act': Choice(options=(None, 'relu')), 'n': 3})
        """

        def encode(node: Any) -> Any:
            param = _as_param(node)
            if isinstance(param, (Float, Integer)):
                kind = "float" if isinstance(param, Float) else "integer"
                return {_PARAM: kind, "low": param.low, "high": param.high, "log": param.log, "q": param.q}
            if isinstance(param, Choice):
                return {_PARAM: "choice", "options": [encode(option) for option in param.options]}
            if isinstance(param, Grid):
                return {_PARAM: "grid", "values": encode(list(param.values))}
            if isinstance(param, RayDomain):
                return {_PARAM: "ray"}
            if isinstance(node, Mapping):
                return {str(key): encode(value) for key, value in node.items()}
            if isinstance(node, (list, tuple)):
                return [encode(item) for item in node]
            return json.loads(json.dumps(node, default=jsonable))

        return encode(self.spec)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Space:
        """The space :meth:`to_json` wrote."""

        def decode(node: Any) -> Any:
            if isinstance(node, Mapping) and isinstance(node.get(_PARAM), str):
                kind = node[_PARAM]
                if kind == "float":
                    return Float(node["low"], node["high"], node["log"], node["q"])
                if kind == "integer":
                    return Integer(node["low"], node["high"], node["log"], node["q"])
                if kind == "choice":
                    return Choice(tuple(decode(option) for option in node["options"]))
                if kind == "grid":
                    return Grid(tuple(node["values"]))
                return RayDomain(None)
            if isinstance(node, Mapping):
                return {key: decode(value) for key, value in node.items()}
            if isinstance(node, list):
                return [decode(item) for item in node]
            return node

        return cls(decode(data))

    def __repr__(self) -> str:
        return f"Space({self.spec!r})"

    # -- converters ----------------------------------------------------------------------------

    def to_ray(self, choices_as_grid: bool = False) -> dict:
        """The space as Ray Tune domains, for Ray's own variant generator and PBT;
        ``choices_as_grid`` makes every choice a grid (searcher ``grid``). A branch is Ray's
        choice (or grid) among its options, each holding its own domains, which Ray's variant
        generator samples once the option is drawn."""
        from ray import tune
        from ray.tune.search import sample

        from raytune_hpo._ray_sampler import CoercingSampler

        def domain(name: str, p: Param):
            if isinstance(p, RayDomain):
                return p.domain
            if isinstance(p, Grid):
                return tune.grid_search(list(p.values))
            if isinstance(p, Choice) and choices_as_grid:
                return tune.grid_search(list(p.options))
            if isinstance(p, Choice):
                return tune.choice(list(p.options))
            d: sample.Domain
            # Each kind apart: Ray's Integer quantizes by an int, its Float by a float.
            if isinstance(p, Integer):
                q = p.q if p.q and p.q > 1 else None
                # Ray's quantized integers (q > 1) include the upper bound: the last legal one.
                di = sample.Integer(p.low, p.high - 1 if q else p.high)
                di = di.loguniform() if p.log else di.uniform()
                d = di.quantized(q) if q else di
            else:
                df = sample.Float(p.low, p.high)
                df = df.loguniform() if p.log else df.uniform()
                d = df.quantized(p.q) if p.q else df
            d.set_sampler(CoercingSampler(d.get_sampler(), p), allow_override=True)
            return d

        def branch(name: str, option: Callable[[int], Any]) -> Any:
            options = [option(i) for i in range(len(self.branch_points[name].options))]
            return tune.grid_search(options) if choices_as_grid else tune.choice(options)

        return self._build(domain, branch)

    def searchable(self, searcher: str) -> dict[str, Param]:
        """The parameters by path, for a searcher that models them (every one but ``random``
        and ``grid``): a grid or a Ray-sampled domain, which only Ray samples, is refused in
        one line naming the parameter and ``searcher``."""
        for name, p in self.params.items():
            if isinstance(p, (Grid, RayDomain)):
                raise ConfigError(
                    f"space.{display(name)}: searcher {searcher!r} cannot take "
                    f"{_kind_name(p)}; use searcher 'grid' or 'random', or hpo.choice(...)"
                )
        return dict(self.params)

    def _build(self, leaf: Callable[[str, Param], Any], branch: Callable[[str, Callable[[int], Any]], Any]) -> dict:
        """The spec with each parameter replaced by ``leaf(path, param)`` and each branch by
        ``branch(path, option)``, where ``option(i)`` is its option ``i`` built the same way;
        constants copied."""

        def walk(node: Any, path: tuple[str, ...]) -> Any:
            name = SEP.join(path)
            if name in self.branch_points:
                options = self.branch_points[name].options
                return branch(name, lambda i: walk(options[i], _indexed(path, i)))
            if name in self.params:
                return leaf(name, self.params[name])
            if isinstance(node, Mapping):
                return {key: walk(child, child_path) for key, child, child_path in _children(node, path)}
            if isinstance(node, (list, tuple)) and _holds_params(node):
                return type(node)(walk(child, child_path) for _, child, child_path in _children(node, path))
            return copy.deepcopy(node)

        return walk(self.spec, ())


def display(path: str | tuple[str, ...]) -> str:
    """A parameter's path as users write it: ``optim.lr``, ``optimizer[1].lr``."""
    return ".".join(path.split(SEP) if isinstance(path, str) else path)


def _indexed(path: tuple[str, ...], i: int) -> tuple[str, ...]:
    """The path of option or element ``i`` of the branch or list at ``path``: ``[i]`` appended
    to its last part (``optimizer[1]``), so that no path is a prefix of a branch's own."""
    return path[:-1] + (f"{path[-1]}[{i}]",)


_ABSENT = object()  # no value in a configuration, where None may be one
_PARAM = "$param"  # the key that marks a parameter in Space.to_json


def _fit(option: Any, given: Any) -> int:
    """How a configuration's value fits a branch's ``option``: -1 not at all (a constant or
    the shape differs), 0 where some of the option's parameters have no value in it, 1 fully.
    The values the parameters took are checked apart."""
    if _as_param(option) is not None:
        return 1
    if isinstance(option, Mapping):
        if not isinstance(given, Mapping):
            return -1
        fits = [
            _fit(value, given[key]) if key in given else (0 if _holds_params(value) else -1)
            for key, value in option.items()
        ]
        return min(fits, default=1)
    if isinstance(option, (list, tuple)) and _holds_params(option):
        if not isinstance(given, (list, tuple)) or len(given) != len(option):
            return -1
        return min(map(_fit, option, given), default=1)
    return 1 if given == option else -1


def _raw(param: Param, value: Any) -> Any:
    """What a searcher suggests for ``value`` of ``param`` (a choice's option index), or
    ``_ABSENT`` where the value is not one of the parameter's."""
    if isinstance(param, Choice):
        return next((i for i, option in enumerate(param.options) if option == value), _ABSENT)
    if isinstance(param, Grid):
        return value if value in param.values else _ABSENT
    if isinstance(param, RayDomain):
        return value
    if not is_number(value) or isinstance(value, bool):
        return _ABSENT
    if isinstance(param, Integer):
        inside = float(value).is_integer() and param.low <= value < param.high
        return int(value) if inside else _ABSENT
    tolerance = 1e-9 * (param.high - param.low)
    return float(value) if param.low - tolerance <= value <= param.high + tolerance else _ABSENT


def _children(node: Any, path: tuple[str, ...]) -> list[tuple[Any, Any, tuple[str, ...]]]:
    """(key or index, child, its path) of a dict, or of a list that holds parameters; none of
    anything else (a constant, a list of constants)."""
    if isinstance(node, Mapping):
        return [(key, value, path + (key,)) for key, value in node.items()]
    if isinstance(node, (list, tuple)) and _holds_params(node):
        return [(i, value, _indexed(path, i)) for i, value in enumerate(node)]
    return []


def _holds_params(node: Any) -> bool:
    """Whether a parameter lies anywhere inside ``node`` (a dict, list or option)."""
    if _as_param(node) is not None:
        return True
    if isinstance(node, Mapping):
        return any(_holds_params(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(_holds_params(v) for v in node)
    return False


def _as_param(value: Any) -> Param | None:
    if isinstance(value, (Float, Integer, Choice, Grid, RayDomain)):
        return value
    if isinstance(value, Mapping) and set(value) == {"grid_search"}:
        return Grid(tuple(value["grid_search"]))
    return _from_ray(value)


def _from_ray(value: Any) -> Param | None:
    """Our parameter for a Ray Tune domain, or None where ``value`` is not one."""
    try:
        from ray.tune.search import sample
    except ImportError:  # pragma: no cover - ray is a dependency
        return None
    if not isinstance(value, sample.Domain):
        return None
    from raytune_hpo._ray_sampler import CoercingSampler

    sampler = value.get_sampler()
    if isinstance(sampler, CoercingSampler):  # one of ours, from Space.to_ray()
        return sampler.param
    q = None
    if isinstance(sampler, sample.Quantized):
        q, sampler = sampler.q, sampler.sampler
    log = isinstance(sampler, sample.LogUniform)
    if isinstance(value, sample.Categorical) and isinstance(sampler, sample.Uniform):
        return Choice(tuple(value.categories))
    if isinstance(sampler, (sample.Uniform, sample.LogUniform)):
        if isinstance(value, sample.Integer):
            if q == 1:  # Ray: upper exclusive for q=1, inclusive for q > 1
                return Integer(value.lower, value.upper, log=log)
            # Ray types Quantized.q as float | int; an integer domain's is an int (qrandint
            # and qlograndint take an int q), and Integer.check() refuses any other.
            return Integer(value.lower, value.upper + (1 if q else 0), log=log, q=cast(int | None, q))
        if isinstance(value, sample.Float):
            return Float(value.lower, value.upper, log=log, q=q)
    return RayDomain(value)


def _kind_name(p: Param) -> str:
    return "a grid" if isinstance(p, Grid) else "a Ray-sampled domain"


def _quantize(value: float, q: float, low: float, high: float) -> float:
    """The multiple of ``q`` nearest ``value`` inside [low, high], without float noise
    (0.30000000000000004 becomes 0.3)."""
    k = round(value / q)
    for candidate in (k, k - 1, k + 1):
        v = float(f"{candidate * q:.12g}")
        if low - 1e-12 <= v <= high + 1e-12:
            return v
    return float(f"{value:.12g}")


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict as one level, keys joined with ``/``."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{SEP}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def dotted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration as the trackers show it: one level, nested keys joined with ``.``
    (``opt.lr``), an empty dict kept as a value.

    >>> dotted({"opt": {"lr": 0.1, "extra": {}}, "layers": [8, 8]})
    {'opt.lr': 0.1, 'opt.extra': {}, 'layers': [8, 8]}
    """
    values: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping) and value:
                walk(value, f"{prefix}{key}.")
            else:
                values[f"{prefix}{key}"] = value

    walk(config, "")
    return values


def _get(config: Mapping, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(config, Mapping) or key not in config:
            return None
        config = config[key]
    return config


def _set(config: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        config = config.setdefault(key, {})
    config[keys[-1]] = value
