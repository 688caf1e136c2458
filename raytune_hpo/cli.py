"""The ``raytune-hpo`` command."""

from __future__ import annotations

import argparse
import sys

from raytune_hpo.errors import ConfigError


def _list(args: argparse.Namespace) -> int:
    from raytune_hpo.schedulers import REGISTRY as SCHEDULERS
    from raytune_hpo.searchers import REGISTRY as SEARCHERS

    print("searchers:")
    for s in SEARCHERS.values():
        needs = f"  [needs scheduler {' or '.join(s.schedulers)}]" if s.schedulers else ""
        extra = f"  (extra: {s.extra})" if s.extra else ""
        print(f"  {s.name:<10} {s.summary}{extra}{needs}")
    print("schedulers:")
    for s in SCHEDULERS.values():
        needs = f"  [needs searcher {' or '.join(s.searchers)}]" if s.searchers else ""
        print(f"  {s.name:<10} {s.summary}{needs}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raytune-hpo", description="Hyperparameter optimisation on Ray Tune."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="the searchers and schedulers, one line each").set_defaults(
        handler=_list
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # argparse exits with 2 on bad usage
    try:
        return args.handler(args)
    except ConfigError as e:
        print(f"raytune-hpo: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
