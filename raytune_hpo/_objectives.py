"""What an experiment optimises: one objective or several, and outcome constraints.

:class:`Objectives` is declared once per experiment (``metric``, ``mode``, ``constraints`` of
:func:`raytune_hpo.run`) and is what every part that compares trials asks: the schedulers at a
rung, the searchers' constraint handling, :class:`~raytune_hpo.results.Results`' front and
best trial, the report. It is pure Python (no Ray, no NumPy)::

    >>> o = Objectives.of(["loss", "latency_ms"], ["min", "min"], {"mem_gb": ("<=", 16)})
    >>> o.values({"loss": 0.2, "latency_ms": 5.0, "mem_gb": 12})
    (0.2, 5.0)
    >>> o.violation({"loss": 0.2, "latency_ms": 5.0, "mem_gb": 20})
    4.0
    >>> o.rank([((0.2, 5.0), 0.0), ((0.1, 9.0), 0.0), ((0.3, 6.0), 0.0), ((0.0, 0.0), 4.0)])
    [0, 1, 2, 3]

Values are compared in *minimisation form*: a maximised metric is negated. A trial is ranked by
non-dominated sorting (Deb et al. 2002, NSGA-II): its front first, then, within the front, its
crowding distance (the larger, the less crowded, the better; a front's extreme points first),
then its order of arrival. Every infeasible point (a constraint violated) comes after every
feasible one, by how much it violates; a point without values (an objective missing, NaN or
infinite) comes last. With one objective and no constraint this is the plain sort by value.

The *representative report* of a trial, the one that stands for it on a Pareto front, is its
**last** report: the state its training ended in, whose checkpoint is kept. A trial is
infeasible when **any** of its reports violated a constraint (a peak memory that once passed the
bound did pass it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from raytune_hpo._options import is_number
from raytune_hpo.errors import ConfigError

MODES = ("min", "max")
OPERATORS = ("<=", ">=")

Vector = tuple[float, ...]
Point = tuple[Vector | None, float]
"""A trial as compared: its values in minimisation form (None where it has none) and its
constraint violation (0 when feasible)."""


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``: a report is feasible when its ``metric`` satisfies it."""

    metric: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bound (0 inside)."""
        return max(0.0, value - self.bound) if self.op == "<=" else max(0.0, self.bound - value)

    def as_list(self) -> list:
        return [self.op, self.bound]


@dataclass(frozen=True)
class Objectives:
    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    constraints: tuple[Constraint, ...] = ()

    # --- declared and checked ---------------------------------------------------------------

    @classmethod
    def of(cls, metric: Any, mode: Any = None, constraints: Any = None) -> Objectives:
        """Checked from a run's ``metric`` (a name or a list of names), ``mode`` (``'min'`` or
        ``'max'``, a list of them with several metrics; None: ``'min'`` for one metric) and
        ``constraints`` (``{metric: (op, bound)}``); a bad one is refused in one line."""
        metrics = _names(metric)
        several = len(metrics) > 1
        if mode is None and several:
            raise ConfigError(
                f"mode: give one mode per metric, e.g. mode={['min'] * len(metrics)} for metric={list(metrics)}"
            )
        modes = _modes(mode if mode is not None else "min", metrics)
        return cls(metrics, modes, _constraints(constraints))

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Objectives:
        """As an experiment's ``hpo.json`` records them."""
        metrics = meta["metric"]
        modes = meta.get("mode", "min")
        return cls(
            tuple(metrics) if isinstance(metrics, list) else (metrics,),
            tuple(modes) if isinstance(modes, list) else (modes,),
            tuple(Constraint(m, op, float(bound)) for m, (op, bound) in (meta.get("constraints") or {}).items()),
        )

    def meta(self) -> dict[str, Any]:
        """What ``hpo.json`` records: a name and a mode as before for one objective, lists for
        several; ``constraints`` only where there are some."""
        fields: dict[str, Any] = {
            "metric": list(self.metrics) if self.several else self.metrics[0],
            "mode": list(self.modes) if self.several else self.modes[0],
        }
        if self.constraints:
            fields["constraints"] = {c.metric: c.as_list() for c in self.constraints}
        return fields

    @property
    def several(self) -> bool:
        return len(self.metrics) > 1

    @property
    def compound(self) -> bool:
        """Whether a trial is more than one number to compare: several objectives, or
        constraints (then trials are compared by points, :meth:`rank`)."""
        return self.several or bool(self.constraints)

    @property
    def primary(self) -> str:
        """The first objective: what Ray Tune's ``TuneConfig``, the progress line and the
        checkpoints kept go by."""
        return self.metrics[0]

    @property
    def primary_mode(self) -> str:
        return self.modes[0]

    @property
    def reported(self) -> tuple[str, ...]:
        """Every metric a report must hold: the objectives, then the constrained ones."""
        return tuple(dict.fromkeys([*self.metrics, *(c.metric for c in self.constraints)]))

    def describe(self) -> str:
        """``val_loss (min), latency_ms (min); gpu_mem_gb <= 16``."""
        text = ", ".join(f"{m} ({mode})" for m, mode in zip(self.metrics, self.modes))
        if self.constraints:
            text += "; " + ", ".join(f"{c.metric} {c.op} {c.bound:g}" for c in self.constraints)
        return text

    # --- one report ---------------------------------------------------------------------------

    def values(self, report: Mapping[str, Any]) -> Vector | None:
        """The objectives of ``report`` in minimisation form; None where one is missing, NaN
        or infinite."""
        values = []
        for metric, mode in zip(self.metrics, self.modes):
            value: Any = report.get(metric)
            if not is_number(value):
                return None
            values.append(float(value) if mode == "min" else -float(value))
        return tuple(values)

    def violation(self, report: Mapping[str, Any]) -> float:
        """How far ``report`` is outside the constraints, summed (0: feasible); a constrained
        metric missing or not a finite number violates by infinity."""
        total = 0.0
        for c in self.constraints:
            value: Any = report.get(c.metric)
            total += c.violation(float(value)) if is_number(value) else math.inf
        return total

    def largest_violation(self, largest: dict[str, float], trial_id: str, report: Mapping[str, Any]) -> float:
        """The largest violation of ``trial_id``'s reports so far, ``report`` included, kept in
        ``largest`` (a running trial's, by id: a trial is infeasible once any report violated)."""
        violation = max(largest.get(trial_id, 0.0), self.violation(report))
        largest[trial_id] = violation
        return violation

    def point(self, reports: Sequence[Mapping[str, Any]]) -> Point:
        """A trial as compared: its last report's values and the largest violation of any of
        its reports."""
        if not reports:
            return None, 0.0
        return self.values(reports[-1]), max((self.violation(r) for r in reports), default=0.0)

    # --- many -------------------------------------------------------------------------------

    def rank(self, points: Sequence[Point]) -> list[int]:
        """The indices of ``points``, best first (see the module's docstring)."""
        feasible = [i for i, (v, bad) in enumerate(points) if v is not None and bad == 0]
        infeasible = sorted(
            (i for i, (v, bad) in enumerate(points) if v is not None and bad > 0), key=lambda i: points[i][1]
        )
        missing = [i for i, (v, _) in enumerate(points) if v is None]
        if not self.several:  # the plain sort by value, ties by arrival
            return sorted(feasible, key=lambda i: points[i][0]) + infeasible + missing  # type: ignore[arg-type,return-value]
        order: list[int] = []
        vectors = [points[i][0] for i in feasible]
        for front in nondominated_fronts(vectors):  # type: ignore[arg-type]
            distance = crowding_distance([vectors[j] for j in front])  # type: ignore[misc]
            order.extend(feasible[front[k]] for k in sorted(range(len(front)), key=lambda k: -distance[k]))
        return order + infeasible + missing

    def front(self, points: Sequence[Point]) -> list[int]:
        """The indices of the feasible points no other feasible point dominates, in order."""
        feasible = [i for i, (v, bad) in enumerate(points) if v is not None and bad == 0]
        vectors = [points[i][0] for i in feasible]
        fronts = nondominated_fronts(vectors)  # type: ignore[arg-type]
        return sorted(feasible[j] for j in fronts[0]) if fronts else []


def dominates(a: Vector, b: Vector) -> bool:
    """``a`` is nowhere worse than ``b`` and somewhere better (minimisation)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def join_front(front: dict[Any, Vector], key: Any, values: Vector) -> bool:
    """Add ``values`` under ``key`` to ``front``, vectors none of which dominates another (equal
    ones stay, as they share a front), dropping those it dominates; whether it joined (False
    where one of them dominates it). A front followed point by point as points arrive."""
    if any(dominates(v, values) for v in front.values()):
        return False
    for beaten in [k for k, v in front.items() if dominates(values, v)]:
        del front[beaten]
    front[key] = values
    return True


def nondominated_fronts(vectors: Sequence[Vector]) -> list[list[int]]:
    """The indices of ``vectors``, front by front (the first front is the Pareto front), each in
    index order; equal vectors share a front. Two objectives: a sweep in O(n log n); more: Deb
    et al.'s fast non-dominated sort, O(n²) (a front of thousands of trials with three
    objectives or more takes seconds)."""
    if vectors and len(vectors[0]) == 2:
        return _fronts_2d(vectors)
    n = len(vectors)
    dominated_by: list[list[int]] = [[] for _ in range(n)]  # those i dominates
    count = [0] * n  # how many dominate i
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(vectors[i], vectors[j]):
                dominated_by[i].append(j)
                count[j] += 1
            elif dominates(vectors[j], vectors[i]):
                dominated_by[j].append(i)
                count[i] += 1
    fronts, current = [], [i for i in range(n) if count[i] == 0]
    while current:
        fronts.append(sorted(current))
        following = []
        for i in current:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    following.append(j)
        current = following
    return fronts


def _fronts_2d(vectors: Sequence[Vector]) -> list[list[int]]:
    """Fronts of two objectives: by the first objective, then the second, each point joins the
    first front none of whose members dominates it. Every member came before it (first value
    no larger), so one dominates it exactly when the front's least second value is below its
    own, or equal to it with a smaller first value; those bests only grow from front to front,
    so the front is found by bisection."""
    bests: list[tuple[float, float]] = []  # per front: (least second value, least first value at it)
    fronts: list[list[int]] = []
    for i in sorted(range(len(vectors)), key=lambda i: vectors[i]):
        x, y = vectors[i]
        low, high = 0, len(fronts)
        while low < high:  # the first front that does not dominate (x, y)
            middle = (low + high) // 2
            best_y, best_x = bests[middle]
            if best_y < y or (best_y == y and best_x < x):
                low = middle + 1
            else:
                high = middle
        if low == len(fronts):
            fronts.append([])
            bests.append((y, x))
        elif y < bests[low][0]:
            bests[low] = (y, x)
        fronts[low].append(i)
    return [sorted(front) for front in fronts]


def crowding_distance(vectors: Sequence[Vector]) -> list[float]:
    """NSGA-II's crowding distance of each vector within its front: per objective, the gap
    between its two neighbours over the front's range, summed; a front's extremes get
    infinity (they are kept first)."""
    n = len(vectors)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    for k in range(len(vectors[0])):
        order = sorted(range(n), key=lambda i: vectors[i][k])
        low, high = vectors[order[0]][k], vectors[order[-1]][k]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for before, i, after in zip(order, order[1:], order[2:]):
            distance[i] += (vectors[after][k] - vectors[before][k]) / (high - low)
    return distance


def hypervolume(vectors: Sequence[Vector], reference: Sequence[float]) -> float:
    """The volume dominated by ``vectors`` and bounded by ``reference`` (minimisation form);
    points not strictly better than the reference in every objective add nothing. Exact:
    a sweep in two dimensions, slicing by the last objective above (fine for the fronts of an
    HPO experiment: hundreds of points, a few objectives)."""
    ref = tuple(float(r) for r in reference)
    points = [tuple(v) for v in vectors if all(x < r for x, r in zip(v, ref))]
    return _hypervolume(points, ref)


def _hypervolume(points: list[Vector], ref: Vector) -> float:
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    if len(ref) == 2:
        volume, best_y = 0.0, ref[1]
        for x, y in sorted(points):
            if y < best_y:
                volume += (ref[0] - x) * (best_y - y)
                best_y = y
        return volume
    # Slices along the last objective: between consecutive values, the points at or below
    # the slice's bottom dominate a (d-1)-dimensional volume, times the slice's height.
    points = sorted(points, key=lambda p: p[-1])
    volume = 0.0
    for i, p in enumerate(points):
        top = points[i + 1][-1] if i + 1 < len(points) else ref[-1]
        if top > p[-1]:
            volume += (top - p[-1]) * _hypervolume([q[:-1] for q in points[: i + 1]], ref[:-1])
    return volume


def _names(metric: Any) -> tuple[str, ...]:
    names = [metric] if isinstance(metric, str) else metric
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(m, str) and m for m in names):
        raise ConfigError(f"metric: must be a non-empty string (a list of them for several objectives), got {metric!r}")
    duplicated = sorted({m for m in names if names.count(m) > 1})
    if duplicated:
        raise ConfigError(f"metric: {duplicated[0]!r} given twice; each objective once")
    return tuple(names)


def _modes(mode: Any, metrics: tuple[str, ...]) -> tuple[str, ...]:
    modes = [mode] if isinstance(mode, str) else mode
    if not isinstance(modes, (list, tuple)) or len(modes) != len(metrics):
        if len(metrics) == 1:
            raise ConfigError(f"mode: must be 'min' or 'max', got {mode!r}")
        raise ConfigError(
            f"mode: give one mode per metric ({len(metrics)}), e.g. mode={['min'] * len(metrics)} "
            f"for metric={list(metrics)}; got {mode!r}"
        )
    for m, value in zip(metrics, modes):
        if value not in MODES:
            where = "mode" if len(metrics) == 1 else f"mode of {m!r}"
            raise ConfigError(f"{where}: must be 'min' or 'max', got {value!r}")
    return tuple(modes)


def _constraints(constraints: Any) -> tuple[Constraint, ...]:
    if constraints is None:
        return ()
    if not isinstance(constraints, Mapping):
        raise ConfigError(f"constraints: must be a mapping like {{'gpu_mem_gb': ('<=', 16)}}, got {constraints!r}")
    checked = []
    for metric, rule in constraints.items():
        field = f"constraints.{metric}"
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"constraints: {metric!r} must be a metric's name")
        if not isinstance(rule, (list, tuple)) or len(rule) != 2:
            raise ConfigError(f"{field}: must be (operator, bound), e.g. ('<=', 16), got {rule!r}")
        op, bound = rule
        if op not in OPERATORS:
            raise ConfigError(f"{field}: operator {op!r} unknown; use '<=' or '>='")
        if not is_number(bound):
            raise ConfigError(f"{field}: the bound must be a finite number, got {bound!r}")
        checked.append(Constraint(metric, op, float(bound)))
    return tuple(checked)
