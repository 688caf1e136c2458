"""Experiments as files: the YAML schema, its validation, and the translation into ``hpo.run``.

An experiment file, read with a safe YAML loader::

    name: digits-tpe-asha
    trainable: experiments.digits:train      # module:function
    metric: val_loss
    mode: min
    searcher: {name: tpe, n_initial_points: 10}
    scheduler: {name: asha, max_t: 20, grace_period: 1, reduction_factor: 3}
    num_samples: 40
    resources: {cpu: 1, gpu: 0}
    space:
      lr: {loguniform: [1.0e-4, 1.0e-1]}
      hidden: {choice: [32, 64, 128]}
      epochs: 20
    storage: runs
    seed: 0

In ``space``, a mapping with one key naming a primitive (``uniform``, ``loguniform``,
``quniform``, ``qloguniform``, ``randint``, ``choice``, ``grid``) is a parameter, its value
the primitive's arguments as a list; any other mapping is a nested group; a list holds items
of any of these kinds; anything else is a constant. A ``choice``'s options are read the same
way: options that hold parameters make a conditional space::

    space:
      optimizer:
        choice:
          - {name: sgd, lr: {loguniform: [1.0e-3, 1.0e-1]}, momentum: {uniform: [0.5, 0.9]}}
          - {name: adam, lr: {loguniform: [1.0e-4, 1.0e-2]}}
      width: [{choice: [64, 128]}, {choice: [64, 128]}]

``searcher`` and ``scheduler`` are a name, or a mapping of ``name`` and options.
Relative ``storage`` paths are relative to the working directory.

Every mistake is one line naming the field path and the fix, e.g.
``scheduler.max_t: must be a positive integer, got -3``; unknown fields are refused with the
closest known name.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from raytune_hpo import space as hpo_space
from raytune_hpo._options import did_you_mean
from raytune_hpo._run_options import RunOptions
from raytune_hpo.errors import ConfigError

# The file's fields are a run's options (the searcher's and scheduler's inside searcher and
# scheduler), with the trainable and the space.
_OPTIONS = RunOptions.table()
FIELDS = ("trainable", "space", *(o.name for o in _OPTIONS if not o.name.endswith("_options")))
REQUIRED = ("trainable", *(o.name for o in _OPTIONS if o.required), "space")
# Each primitive and the arguments it takes, in order.
PRIMITIVES: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "uniform": (hpo_space.uniform, ("low", "high")),
    "loguniform": (hpo_space.loguniform, ("low", "high")),
    "quniform": (hpo_space.quniform, ("low", "high", "q")),
    "qloguniform": (hpo_space.qloguniform, ("low", "high", "q")),
    "randint": (hpo_space.randint, ("low", "high")),
    "choice": (hpo_space.choice, ("options",)),
    "grid": (hpo_space.grid, ("values",)),
}


DEFAULT_STORAGE = "runs"


class SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float as YAML 1.2 does (YAML 1.1, which
    PyYAML follows, wants ``1.0e-3`` and makes ``1e-3`` a string)."""


SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(text: str):
    return yaml.load(text, Loader=SafeLoader)  # a safe loader: no object construction


@dataclass
class Experiment:
    """A validated experiment file: ``resolved`` is the file with ``--set`` applied."""

    source: str
    resolved: dict

    @property
    def name(self) -> str:
        return self.resolved.get("name", os.path.splitext(os.path.basename(self.source))[0])

    @property
    def path(self) -> str:
        """The experiment's folder (``storage`` relative to the working directory)."""
        return os.path.abspath(os.path.join(self.resolved.get("storage", DEFAULT_STORAGE), self.name))

    def run_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`raytune_hpo.runner.plan` (the trainable imported)."""
        r = self.resolved
        searcher, searcher_options = _named(r.get("searcher", "random"), "searcher")
        scheduler, scheduler_options = _named(r.get("scheduler"), "scheduler")
        arguments = {
            "trainable": self.trainable(),
            "space": parse_space(r["space"]),
            "metric": r["metric"],
            "mode": r.get("mode"),
            "searcher": searcher,
            "scheduler": scheduler,
            "searcher_options": searcher_options,
            "scheduler_options": scheduler_options,
            "name": self.name,
            "storage": r.get("storage", DEFAULT_STORAGE),
        }
        # The other fields are hpo.run's arguments under the same name, given where the file has them.
        arguments.update({key: r[key] for key in FIELDS if key in r and key not in arguments})
        return arguments

    def trainable(self) -> Callable:
        return import_trainable(self.resolved["trainable"], os.path.dirname(os.path.abspath(self.source)))

    def plan(self, dry_run: bool = False):
        """The checked plan of this experiment; a ConfigError names the file's field."""
        from raytune_hpo.runner import plan

        try:
            return plan(**self.run_arguments(), dry_run=dry_run)
        except ConfigError as e:
            raise ConfigError(self._file_field(str(e))) from None

    def execute(self, plan, verbose: int = 1):
        """Run the planned experiment, keeping the resolved file beside its results."""
        from raytune_hpo.runner import execute

        return execute(plan, verbose=verbose, experiment=self.resolved)

    def _file_field(self, message: str) -> str:
        """An API message's field as the file names it: ``searcher_options.x`` is
        ``searcher.x``; ``max_t`` is ``scheduler.max_t`` where the file put it there."""
        r = self.resolved
        field, _, rest = message.partition(": ")
        head = field.split(".")[0]
        if head in ("searcher_options", "scheduler_options"):
            field = head.replace("_options", "") + field[len(head) :]
        elif field in ("searcher", "scheduler") and isinstance(r.get(field), Mapping):
            field = f"{field}.name"
        elif field == "max_t" and "max_t" not in r:
            field = "scheduler.max_t"
        return f"{field}: {rest}" if rest else message


def load_experiment(path: str, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Read, apply ``--set key.path=value`` overrides, and check the structure of a file."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    try:
        data = read_yaml(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f"line {where.line + 1}, column {where.column + 1}: " if where else ""
        if isinstance(e, yaml.constructor.ConstructorError):  # !!python/object and the like
            tag = re.search(r"'([^']+)'", e.problem or "")
            shown = tag.group(1).replace("tag:yaml.org,2002:", "!!") if tag else "a tag"
            raise ConfigError(
                f"{path}: {at}{shown} refused; the file is read with a safe YAML loader, "
                "which builds no objects: write plain values"
            ) from None
        raise ConfigError(f"{path}: not valid YAML ({at}{getattr(e, 'problem', None) or e})") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: must be a mapping of fields (name, trainable, metric, space, ...), got {type(data).__name__}"
        )
    for override in overrides:
        apply_override(data, override)
    check_fields(data)
    return Experiment(path, data)


def apply_override(data: dict, override: str) -> None:
    """``key.path=value``: the value read as YAML (``3``, ``1e-3``, ``tpe``, ``[1, 2]``)."""
    key, sep, text = override.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set: expected key.path=value, got {override!r}")
    try:
        value = read_yaml(text)
    except yaml.YAMLError as e:
        raise ConfigError(
            f"--set {key}: cannot read the value {text!r} as YAML ({getattr(e, 'problem', None) or e}); "
            "give a plain value, e.g. 3, 1e-3, tpe or [1, 2]"
        ) from None
    node = data
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if isinstance(child, str) and depth == 0 and part in ("searcher", "scheduler"):
            child = {"name": child}  # searcher: tpe  +  --set searcher.n_initial_points=5
        elif not isinstance(child, dict):
            if child is not None:
                raise ConfigError(f"--set {key}: {'.'.join(parts[: depth + 1])} is not a mapping")
            child = {}
        node[part] = child
        node = child
    node[parts[-1]] = value


def check_fields(data: Mapping) -> None:
    for key in data:
        if key not in FIELDS:
            raise ConfigError(f"{key}: unknown field{did_you_mean(key, FIELDS)}")
    for key in REQUIRED:
        if key not in data:
            raise ConfigError(f"{key}: missing; every experiment file names its {', '.join(REQUIRED)}")
    trainable = data["trainable"]
    if not isinstance(trainable, str) or not re.fullmatch(r"[\w.]+:[\w.]+", trainable):
        raise ConfigError(f"trainable: must be 'module:function', e.g. experiments.digits:train, got {trainable!r}")
    if not isinstance(data["space"], Mapping):
        raise ConfigError(f"space: must be a mapping of parameter names, got {type(data['space']).__name__}")
    for field in ("searcher", "scheduler"):
        if field in data:
            _named(data[field], field)


def parse_space(raw: Mapping, path: str = "space") -> dict:
    """The file's space as the API's: primitives made, groups nested, constants kept; a
    ``choice``'s options and a list's items parsed the same way, so that they may hold
    parameters (a conditional space: :mod:`raytune_hpo.space`)."""
    return {key: _parse_node(value, f"{path}.{key}") for key, value in raw.items()}


def _parse_node(value: Any, where: str) -> Any:
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in PRIMITIVES:
        ((kind, args),) = value.items()
        make, names = PRIMITIVES[kind]
        if len(names) == 1:  # choice, grid: one list
            if not isinstance(args, list):
                raise ConfigError(f"{where}.{kind}: takes a list of {names[0]}, got {args!r}")
            if kind == "choice":
                return make([_parse_node(option, f"{where}[{i}]") for i, option in enumerate(args)])
            return make(args)
        if not isinstance(args, list) or len(args) != len(names):
            raise ConfigError(f"{where}.{kind}: takes [{', '.join(names)}], got {args!r}")
        return make(*args)
    if isinstance(value, Mapping):
        if len(value) == 1 and difflib.get_close_matches(str(next(iter(value))), list(PRIMITIVES), n=1, cutoff=0.75):
            first = next(iter(value))
            raise ConfigError(f"{where}: unknown primitive {first!r}{did_you_mean(first, PRIMITIVES)}")
        return parse_space(value, where)
    if isinstance(value, list):
        return [_parse_node(item, f"{where}[{i}]") for i, item in enumerate(value)]
    return copy.deepcopy(value)


def import_trainable(reference: str, folder: str) -> Callable:
    """``module:function``, imported with the experiment file's folder and the working
    directory on the path; an import error names the module and its cause in one line."""
    module_name, _, function_name = reference.partition(":")
    for directory in _import_roots(module_name.split(".")[0], folder):
        if directory not in sys.path:
            sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's module: any error in it is theirs to see, in one line
        cause = str(e).splitlines()[0] if str(e) else ""
        raise ConfigError(f"trainable: cannot import {module_name!r} ({type(e).__name__}: {cause})") from None
    function: Any = module  # then each attribute on the way: anything, or None
    for part in function_name.split("."):
        function = getattr(function, part, None)
    if not callable(function):
        raise ConfigError(f"trainable: module {module_name!r} has no function {function_name!r}")
    return function


def _import_roots(top: str, folder: str) -> list[str]:
    """The working directory, the file's folder, and the nearest folder above the file that
    holds the module's top package (``experiments/digits.py`` for ``experiments.digits``,
    whatever the working directory)."""
    roots = [os.getcwd(), folder]
    directory = folder
    while True:
        if os.path.exists(os.path.join(directory, top)) or os.path.exists(os.path.join(directory, top + ".py")):
            roots.append(directory)
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return roots


def _named(value: Any, field: str) -> tuple[str | None, dict]:
    """``tpe`` or ``{name: tpe, n_initial_points: 10}`` as (name, options)."""
    if value is None or isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping):
        if "name" not in value:
            raise ConfigError(
                f"{field}.name: missing; e.g. {field}: {{name: {'tpe' if field == 'searcher' else 'asha'}, ...}}"
            )
        options = {k: v for k, v in value.items() if k != "name"}
        return value["name"], options
    raise ConfigError(f"{field}: must be a name or a mapping with a name, got {value!r}")
