"""Optional libraries imported on use, and options checked against a library's signature."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from raytune_hpo._options import refuse_unknown
from raytune_hpo.errors import ConfigError


def call_factory(factory: str, *args: Any, **kwargs: Any):
    """Call ``"module:function"`` (or a class) with ``args``, importing the module only now: a
    searcher's, scheduler's or tracker's library is loaded when it is used, not when
    raytune_hpo is imported."""
    module, function = factory.split(":")
    return getattr(importlib.import_module(module), function)(*args, **kwargs)


def lookup(registry: Mapping[str, Any], field: str, name: Any):
    """``registry[name]``, or a one-line error naming the valid names."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise ConfigError(f"{field}: unknown name {name!r}; choose one of {', '.join(registry)}") from None


def require(module: str, extra: str, user: str, install: str | None = None):
    """Import ``module``, or say in one line that ``user`` needs it and which extra brings it
    (or, for a package no extra can bring, the command that installs it: ``install``)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        how = install or f"pip install 'raytune-hpo[{extra}]'"
        raise ConfigError(f"{user} needs the {module} package: {how}") from None


@contextlib.contextmanager
def quiet_optuna(extra: str, user: str) -> Iterator[Any]:
    """Optuna imported (or ``user`` told which extra brings it), its INFO lines ("A new study
    created ...") and experimental-feature warnings held back, and its verbosity put back
    afterwards (the host program's setting)."""
    optuna = require("optuna", extra, user)
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield optuna
    finally:
        optuna.logging.set_verbosity(before)


def library_options(
    target: Callable,
    options: Mapping[str, Any],
    *,
    field: str,
    owner: str,
    aliases: Mapping[str, str] | None = None,
    reserved: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``options`` as keyword arguments of ``target``, our common names (``aliases``)
    translated. A name ``target`` does not take, or one we set ourselves (``reserved``), is
    refused in one line naming the field (``searcher_options.gamma``) and the valid names."""
    aliases = dict(aliases or {})
    accepted = [
        name
        for name, p in inspect.signature(target).parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name not in reserved
    ]
    kwargs = {}
    for name, value in options.items():
        target_name = aliases.get(name, name)
        if target_name not in accepted:
            refuse_unknown(field, name, owner, set(accepted) | set(aliases))
        kwargs[target_name] = value
    return kwargs
