"""The options of a run, declared once: :class:`RunOptions`.

Each field carries its type, default, range and meaning; from it come the keyword arguments of
:func:`raytune_hpo.run` (its signature), :func:`raytune_hpo.runner.plan`, the fields of an
experiment file (:mod:`raytune_hpo.config`) and their "did you mean" check. The checks that
need more than one field or the trainable (a pairing, checkpoints) are here too.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raytune_hpo._objectives import Objectives
from raytune_hpo._options import REQUIRED, Option, OptionTable, did_you_mean, is_number
from raytune_hpo._ray.session import RESOURCE_NAMES
from raytune_hpo.errors import ConfigError
from raytune_hpo.schedulers import SchedulerInfo, get_scheduler
from raytune_hpo.searchers import SearcherInfo, get_searcher
from raytune_hpo.space import Space, display


def _mapping(name: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: must be a dict, got {type(value).__name__}")
    return dict(value)


def _metric(name: str, value: Any) -> str | list[str]:
    several = isinstance(value, (list, tuple))
    Objectives.of(value, ["min"] * len(value) if several else "min")  # the names checked; modes with the mode
    return list(value) if several else value


def _any(name: str, value: Any) -> Any:  # checked with the metric (raytune_hpo._objectives)
    return value


def _searcher(name: str, value: Any) -> str:
    return get_searcher(value).name


def _scheduler(name: str, value: Any) -> str | None:
    return None if value is None else get_scheduler(value).name


def _resources(name: str, value: Any) -> dict:
    resources = _mapping(name, value) or {"cpu": 1}
    for key, amount in resources.items():
        if key not in RESOURCE_NAMES:
            raise ConfigError(f"{name}.{key}: unknown resource; use {', '.join(RESOURCE_NAMES)}")
        if not is_number(amount) or amount < 0:
            raise ConfigError(f"{name}.{key}: must be a number >= 0, got {amount!r}")
    if not any(resources.get(k, 0) > 0 for k in ("cpu", "gpu")):
        raise ConfigError(f"{name}: a trial needs some cpu or gpu, e.g. {{'cpu': 1}}")
    return resources


def _storage(name: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(f"{name}: must be a directory path, got {value!r}")
    return os.path.abspath(os.fspath(value))


def _name(name: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value)):
        raise ConfigError(f"{name}: {value!r} must be letters, digits, '.', '_' or '-' (it names a directory)")
    return value


def _tracking(name: str, value: Any) -> dict:
    from raytune_hpo.tracking import check_tracking

    return check_tracking(name, value)


def _directories(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, (str, os.PathLike)) else value
    if (
        not isinstance(items, (list, tuple))
        or not items
        or not all(isinstance(p, (str, os.PathLike)) and str(p) for p in items)
    ):
        raise ConfigError(f"{name}: must be an experiment's directory or a list of them, got {value!r}")
    return [os.fspath(p) for p in items]


def _option(default: Any, kind: type = float, help: str = "", **rules: Any) -> Any:
    """A field of :class:`RunOptions`: its default, and how it is checked (see
    :class:`~raytune_hpo._options.Option`)."""
    metadata = {"kind": kind, "help": help, "rules": rules}
    if default is REQUIRED:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Everything :func:`raytune_hpo.run` takes besides the trainable and the space; each
    field's ``help`` says what it means. :meth:`checked` makes one from given values, every
    default decided (the types are those of a checked one: None is "not given" before)."""

    metric: str | list[str] = _option(
        REQUIRED,
        object,
        "the objective, a name every hpo.report() includes; a list of names for several objectives",
        check=_metric,
    )
    mode: str | list[str] = _option(
        None, object, "'min' or 'max' (default 'min'); a list, one per metric, for several objectives", check=_any
    )
    constraints: dict = _option(
        None,
        dict,
        "outcome constraints on reported metrics, {'gpu_mem_gb': ('<=', 16)}: a trial that violates one is infeasible",
        check=_mapping,
    )
    searcher: str = _option("random", str, "a name of hpo.SEARCHERS", check=_searcher)
    scheduler: str = _option(
        None,
        str,
        "a name of hpo.SCHEDULERS; by default fifo, or the first scheduler the searcher pairs with",
        check=_scheduler,
    )
    num_samples: int = _option(
        None, int, "trials to run (default 10); for searcher grid, repeats of the grid (default 1)", low=1
    )
    max_t: int | None = _option(None, int, "the most iterations (reports) of a trial; the schedulers' horizon", low=1)
    resources: dict = _option(
        None, dict, "per trial, {'cpu': 1, 'gpu': 0.25, 'memory': bytes} (default one CPU)", check=_resources
    )
    storage: str = _option("runs", str, "the experiment is written to storage/name", check=_storage)
    name: str = _option(None, str, "default: the trainable's name and the time", check=_name)
    seed: int | None = _option(None, int, "seeds the searcher and, per trial, Python, NumPy and torch")
    max_concurrent: int | None = _option(None, int, "the most trials at once (default: as resources allow)", low=1)
    max_failures: int = _option(0, int, "retries of a failing trial, from its last checkpoint", low=0)
    time_budget_s: float | None = _option(
        None, float, "stop the experiment after this long", above=0, unit="of seconds"
    )
    iteration_budget: int | None = _option(
        None, int, "stop once trials have run this many iterations in all (a resume counts afresh)", low=1
    )
    searcher_options: dict = _option(None, dict, "passed to the searcher, checked by name", check=_mapping)
    scheduler_options: dict = _option(None, dict, "passed to the scheduler, checked by name", check=_mapping)
    tracking: dict = _option(
        None,
        dict,
        "where else trials are logged: {'mlflow': {...}, 'wandb': {...}, 'optuna': {'journal': ...}}",
        check=_tracking,
    )
    warm_start: list = _option(
        None,
        list,
        "earlier experiments' directories whose finished trials the searcher learns from before it proposes",
        check=_directories,
    )
    warm_start_defaults: dict = _option(
        None,
        dict,
        "values, by dotted path, of parameters the earlier experiments did not have: {'dropout': 0.0}",
        check=_mapping,
    )

    @functools.cached_property
    def objectives(self) -> Objectives:
        """``metric``, ``mode`` and ``constraints`` as one (:mod:`raytune_hpo._objectives`)."""
        return Objectives.of(self.metric, self.mode, self.constraints)

    @classmethod
    def table(cls) -> OptionTable:
        return OptionTable(
            Option(
                f.name,
                f.metadata["kind"],
                REQUIRED if f.default is dataclasses.MISSING else f.default,
                help=f.metadata["help"],
                **f.metadata["rules"],
            )
            for f in dataclasses.fields(cls)
        )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def checked(cls, given: Mapping[str, Any], trainable: Callable) -> RunOptions:
        """The options ``given`` (by name) for ``trainable`` checked, with the defaults of those
        not given; a name :func:`~raytune_hpo.run` does not take is refused with the closest one."""
        table = cls.table()
        for name in given:
            if name not in table.options:
                raise ConfigError(f"{name}: not an option of a run{did_you_mean(name, cls.names())}")
        for option in table:
            if option.required and given.get(option.name) is None:
                raise ConfigError(f"{option.name}: missing; {option.help}")
        values = {
            name: table.options[name].validate(name, value) for name, value in {**table.defaults(), **given}.items()
        }
        # The defaults that depend on other options: max_t given in scheduler_options, the
        # scheduler a searcher pairs with, num_samples, the experiment's name.
        in_options = values["scheduler_options"].pop("max_t", None)
        if in_options is not None:
            table.options["max_t"].validate("max_t", in_options)
            if values["max_t"] is not None and in_options != values["max_t"]:
                raise ConfigError(
                    f"max_t: given twice, {values['max_t']!r} and scheduler_options.max_t={in_options!r}; keep one"
                )
            values["max_t"] = in_options
        objectives = Objectives.of(values["metric"], values["mode"], values["constraints"])
        values.update(objectives.meta(), constraints=values["constraints"])
        if values["scheduler"] is None:
            paired = get_searcher(values["searcher"]).schedulers
            values["scheduler"] = paired[0] if paired else "fifo"
        if values["num_samples"] is None:
            values["num_samples"] = 1 if values["searcher"] == "grid" else 10
        if values["name"] is None:
            values["name"] = f"{getattr(trainable, '__name__', 'trainable')}-{time.strftime('%Y%m%d-%H%M%S')}"
        return cls(**values)


def check_trainable(trainable: Any) -> None:
    if inspect.isclass(trainable) or not callable(trainable):
        raise ConfigError(f"trainable: must be a function train(config), got {type(trainable).__name__}")
    try:
        inspect.signature(trainable).bind({})
    except TypeError:
        raise ConfigError(
            f"trainable: {getattr(trainable, '__name__', trainable)!r} must take one argument, "
            "the config dict: def train(config)"
        ) from None
    except ValueError:  # no signature to inspect (a builtin): let it through
        pass


def _able(registry: Mapping[str, Any], flag: str) -> str:
    """The names of a registry's searchers or schedulers whose ``flag`` is set, for a refusal."""
    return ", ".join(name for name, info in registry.items() if getattr(info, flag))


def check_objectives(objectives: Objectives, searcher: SearcherInfo, scheduler: SchedulerInfo) -> None:
    """Several objectives only for the searchers and schedulers that take them; constraints
    only for schedulers that rank infeasible trials last (any searcher: those without native
    constraints see an infeasible trial as the worst)."""
    from raytune_hpo.schedulers._registry import REGISTRY as SCHEDULERS
    from raytune_hpo.searchers._registry import REGISTRY as SEARCHERS

    if objectives.several and not searcher.several_objectives:
        able = _able(SEARCHERS, "several_objectives")
        raise ConfigError(
            f"searcher: {searcher.name!r} optimises one objective, and metric has {len(objectives.metrics)}; "
            f"the searchers that take several are {able}"
        )
    if objectives.compound and not scheduler.several_objectives:
        able = _able(SCHEDULERS, "several_objectives")
        what = "several objectives" if objectives.several else "constraints"
        raise ConfigError(
            f"scheduler: {scheduler.name!r} compares trials by one metric and cannot take {what}; "
            f"the schedulers that can are {able}"
        )


def check_warm_start(options: RunOptions, searcher: SearcherInfo) -> None:
    """A warm start only for the searchers that learn from one."""
    from raytune_hpo.searchers._registry import REGISTRY as SEARCHERS

    if options.warm_start_defaults and not options.warm_start:
        raise ConfigError("warm_start_defaults: given without warm_start; name the earlier experiments, or drop it")
    if options.warm_start and not searcher.warm_start:
        able = _able(SEARCHERS, "warm_start")
        raise ConfigError(
            f"warm_start: searcher {searcher.name!r} cannot learn from earlier trials; "
            f"the searchers that can are {able}"
        )


def check_conditional(space: Space, searcher: SearcherInfo, scheduler: SchedulerInfo) -> None:
    """A conditional space only for the searchers and schedulers that take one; parameters
    inside lists only for the schedulers that take a conditional space (the others perturb
    parameters by their place in nested dicts)."""
    from raytune_hpo.schedulers._registry import REGISTRY as SCHEDULERS
    from raytune_hpo.searchers._registry import REGISTRY as SEARCHERS

    in_lists = [name for name in space.params if "[" in name]  # "[" only comes from lists and branches
    if in_lists and not space.conditional and not scheduler.conditional:
        able = _able(SCHEDULERS, "conditional")
        raise ConfigError(
            f"space.{display(in_lists[0])}: a parameter inside a list, which scheduler {scheduler.name!r} cannot "
            f"perturb; name it in a dict instead, or use one of {able}"
        )
    if not space.conditional:
        return
    where = f"space.{display(next(iter(space.branch_points)))}"
    if not searcher.conditional:
        able = _able(SEARCHERS, "conditional")
        raise ConfigError(
            f"{where}: a choice whose options hold parameters makes the space conditional, which "
            f"searcher {searcher.name!r} cannot take; the searchers that can are {able}"
        )
    if not scheduler.conditional:
        able = _able(SCHEDULERS, "conditional")
        raise ConfigError(
            f"{where}: a choice whose options hold parameters makes the space conditional, which "
            f"scheduler {scheduler.name!r} cannot take (it perturbs every parameter); use one of {able}"
        )


def check_pairing(searcher: SearcherInfo, scheduler: SchedulerInfo, trainable: Callable) -> None:
    def either(names: tuple[str, ...]) -> str:
        return " or ".join(repr(n) for n in names)

    if searcher.schedulers is not None and scheduler.name not in searcher.schedulers:
        raise ConfigError(
            f"scheduler: searcher {searcher.name!r} cannot run with scheduler {scheduler.name!r}; "
            f"it needs scheduler {either(searcher.schedulers)}"
        )
    if scheduler.searchers is not None and searcher.name not in scheduler.searchers:
        raise ConfigError(
            f"searcher: scheduler {scheduler.name!r} cannot run with searcher {searcher.name!r}; "
            f"it needs searcher {either(scheduler.searchers)}"
        )
    if scheduler.needs_checkpoints and not uses_checkpoints(trainable):
        raise ConfigError(
            f"scheduler: {scheduler.name!r} hands a trial's weights to another through "
            f"checkpoints, but {trainable.__name__}() never calls hpo.load_checkpoint(); "
            "save with hpo.report(..., checkpoint={...}) and start from hpo.load_checkpoint()"
        )


def uses_checkpoints(function: Callable, depth: int = 3) -> bool:
    """Whether the function calls ``load_checkpoint``, in its own source or in that of a
    function it calls (followed ``depth`` deep: a training loop shared by several trainables);
    true where no source can be read: then the user is trusted."""
    try:
        if "load_checkpoint" in inspect.getsource(function):
            return True
    except (OSError, TypeError):
        return True
    if depth == 0:
        return False
    code, names = getattr(function, "__code__", None), getattr(function, "__globals__", {})
    called = [names.get(name) for name in (code.co_names if code else ())]
    return any(uses_checkpoints(f, depth - 1) for f in called if inspect.isfunction(f) and f is not function)
