"""The ``raytune-hpo`` command."""

from __future__ import annotations

import argparse
import os
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


def _bench(args: argparse.Namespace) -> int:
    # Ray's newer console output prints a banner per experiment even when asked for silence.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if args.benchmark == "overhead":
        from raytune_hpo.bench import overhead

        print(overhead.table(overhead.overhead(args.trials, args.trial_seconds), args.trial_seconds))
    elif args.benchmark == "suggest":
        from raytune_hpo.bench import suggest

        print(suggest.table(suggest.suggest(trials=args.trials), args.trials))
    else:
        from raytune_hpo.bench import gpu

        print(gpu.gpu())
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raytune-hpo", description="Hyperparameter optimisation on Ray Tune."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="the searchers and schedulers, one line each").set_defaults(
        handler=_list
    )
    bench = commands.add_parser("bench", help="benchmarks against plain Ray Tune, in one run")
    bench.set_defaults(handler=_bench)
    kinds = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    overhead = kinds.add_parser("overhead", help="short-trial throughput: Ray Tune's defaults, reuse_actors, ours")
    overhead.add_argument("--trials", type=_positive_int, default=60)
    overhead.add_argument("--trial-seconds", type=float, default=0.0)
    suggest = kinds.add_parser("suggest", help="median time of a searcher's suggest at trial 10 and the last")
    suggest.add_argument("--trials", type=_positive_int, default=500)
    kinds.add_parser("gpu", help="8 short GPU trials: wall time against serial compute, GPU utilisation")
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
