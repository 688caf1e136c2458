"""Site profiles: what a SLURM site wants in a GPU job script (modules, QoS by time limit,
account syntax, extra directives), read from a YAML file shipped in ``profiles/`` or given by
path."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from raytune_hpo.errors import ConfigError

PROFILE_DIR = os.path.join(os.path.dirname(__file__), "profiles")
_TIME = re.compile(r"^(?:(\d+)-)?(\d+):([0-5]\d):([0-5]\d)$")


def parse_time(text: str, field_name: str = "--time") -> int:
    """``HH:MM:SS`` or ``D-HH:MM:SS`` in seconds.

    >>> parse_time("100:00:00"), parse_time("1-02:00:30")
    (360000, 93630)
    """
    match = _TIME.match(str(text).strip())
    if not match:
        raise ConfigError(f"{field_name}: {text!r} is not a time; write HH:MM:SS, e.g. {field_name} 02:00:00")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total < 60:
        raise ConfigError(f"{field_name}: {text} is under SLURM's one-minute resolution; give at least 00:01:00")
    return total


def format_time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass(frozen=True)
class Constraint:
    """A site's rules for one kind of node (one ``--constraint``)."""

    setup: tuple[str, ...] = ()
    qos: tuple[tuple[str, int], ...] = ()  # (name, max seconds), shortest first
    account_suffix: str | None = None
    cpus_per_gpu: int | None = None  # where this kind of node differs from the profile's


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    cpus_per_gpu: int
    default_time: int | None
    directives: tuple[str, ...]
    constraints: dict[str, Constraint] = field(default_factory=dict)

    def constraint(self, name: str | None) -> Constraint:
        """The rules for ``--constraint name``; the default ones for a name not listed."""
        return self.constraints.get(name or "default", self.constraints["default"])

    def cpus_per_gpu_for(self, constraint: str | None) -> int:
        return self.constraint(constraint).cpus_per_gpu or self.cpus_per_gpu

    def qos_for(self, constraint: str | None, seconds: int) -> str | None:
        """The first QoS whose limit admits ``seconds``; a ConfigError when none does."""
        choices = self.constraint(constraint).qos
        if not choices:
            return None
        for name, limit in choices:
            if seconds <= limit:
                return name
        longest = max(limit for _, limit in choices)
        raise ConfigError(
            f"--time: {format_time(seconds)} exceeds the {self.name} limit of "
            f"{format_time(longest)}; ask for less and let the job requeue itself"
        )

    def account(self, constraint: str | None, account: str | None) -> str | None:
        """``account`` with the site's suffix (``abc`` -> ``abc@h100`` on Jean Zay's H100)."""
        suffix = self.constraint(constraint).account_suffix
        if account is None or not suffix:
            return account
        if "@" not in account:
            return account + suffix
        if not account.endswith(suffix):
            raise ConfigError(
                f"--account: {account!r} books hours on another partition; on {self.name} "
                f"with --constraint {constraint or '(none)'} write PROJECT{suffix}"
            )
        return account


def profile_names() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(PROFILE_DIR) if f.endswith(".yaml"))


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (``generic``, ``jean-zay``) or a profile file by path."""
    import yaml

    path = (
        name_or_path if name_or_path.endswith((".yaml", ".yml")) else os.path.join(PROFILE_DIR, f"{name_or_path}.yaml")
    )
    if not os.path.isfile(path):
        raise ConfigError(
            f"--profile: unknown profile {name_or_path!r}; use one of "
            f"{', '.join(profile_names())} or the path of a profile .yaml file"
        )
    with open(path) as f:
        data: dict[str, Any] = yaml.safe_load(f)
    where = f"--profile {name_or_path}"
    try:
        constraints = {
            key: Constraint(
                setup=tuple(line for line in rules.get("setup") or () if line),
                qos=tuple(
                    (q["name"], parse_time(q["max_time"], f"{where}: qos max_time")) for q in rules.get("qos") or ()
                ),
                account_suffix=rules.get("account_suffix"),
                cpus_per_gpu=rules.get("cpus_per_gpu"),
            )
            for key, rules in data["constraints"].items()
        }
        default_time = data.get("default_time")
        profile = Profile(
            name=data["name"],
            summary=data.get("summary", ""),
            cpus_per_gpu=int(data.get("cpus_per_gpu", 1)),
            default_time=parse_time(default_time, f"{where}: default_time") if default_time else None,
            directives=tuple(data.get("directives") or ()),
            constraints=constraints,
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise ConfigError(
            f"{where}: not a valid profile ({e!r} missing or malformed); "
            f"start from {os.path.join(PROFILE_DIR, 'generic.yaml')}"
        ) from None
    if "default" not in constraints:
        raise ConfigError(f"{where}: constraints needs a 'default' entry")
    return profile
