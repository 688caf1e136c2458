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
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping
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
    """A validated search space: its parameters by path, and the constants around them."""

    spec: Mapping[str, Any]
    params: dict[str, Param]

    def __init__(self, spec: Mapping[str, Any] | Space):
        if isinstance(spec, Space):
            spec = spec.spec
        if not isinstance(spec, Mapping):
            raise ConfigError(f"space: must be a dict of parameter names to parameters, got {type(spec).__name__}")
        self.spec = spec
        self.params = {}
        self._collect(spec, ())
        if not self.params:
            raise ConfigError("space: has no parameter to search; add one, e.g. 'lr': hpo.loguniform(1e-4, 1e-1)")

    def _collect(self, node: Mapping, prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            path = prefix + (key,)
            if not isinstance(key, str) or not key or SEP in key:
                raise ConfigError(f"space: parameter name {display(path)!r} must be a non-empty string without '{SEP}'")
            param = _as_param(value)
            if param is not None:
                problem = param.check()
                if problem:
                    raise ConfigError(f"space.{display(path)}: {problem}")
                self.params[SEP.join(path)] = param
            elif isinstance(value, Mapping):
                self._collect(value, path)
            elif isinstance(value, (list, tuple)) and any(
                _as_param(v) is not None or isinstance(v, Mapping) for v in value
            ):
                raise ConfigError(
                    f"space.{display(path)}: parameters inside a list are not supported; "
                    "use a dict of parameters instead"
                )

    def names_of(self, kind: type) -> list[str]:
        return [display(name) for name, p in self.params.items() if isinstance(p, kind)]

    # -- from a searcher's suggestion back to a configuration ---------------------------------

    def complete(self, values: Mapping[str, Any]) -> dict:
        """The full, nested configuration from a suggestion: ``values`` maps each parameter's
        path (flat, or nested as dicts) to the library's raw value; each is coerced to its
        parameter's type and set among the constants."""
        flat = flatten(values)
        missing = [display(name) for name in self.params if name not in flat]
        if missing:
            raise ValueError(f"the searcher suggested no value for {', '.join(missing)}")
        return self._replace_params(lambda name, p: p.coerce(flat[name]))

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

    # -- converters ----------------------------------------------------------------------------

    def to_ray(self, choices_as_grid: bool = False) -> dict:
        """The space as Ray Tune domains, for Ray's own variant generator and PBT;
        ``choices_as_grid`` makes every choice a grid (searcher ``grid``)."""
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

        return self._replace_params(domain)

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

    def _replace_params(self, fn) -> dict:
        def walk(node: Mapping, prefix: tuple[str, ...]) -> dict:
            out = {}
            for key, value in node.items():
                name = SEP.join(prefix + (key,))
                if name in self.params:
                    out[key] = fn(name, self.params[name])
                elif isinstance(value, Mapping):
                    out[key] = walk(value, prefix + (key,))
                else:
                    out[key] = copy.deepcopy(value)
            return out

        return walk(self.spec, ())


def display(path: str | tuple[str, ...]) -> str:
    """A parameter's path as users write it: ``optim.lr``."""
    return ".".join(path.split(SEP) if isinstance(path, str) else path)


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
