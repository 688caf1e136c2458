"""The ``raytune-hpo`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys

from raytune_hpo._summary import print_errors, print_front, summary
from raytune_hpo.errors import ConfigError, HPOError, Interrupted


def _list(args: argparse.Namespace) -> int:
    from raytune_hpo.schedulers import REGISTRY as SCHEDULERS
    from raytune_hpo.searchers import REGISTRY as SEARCHERS

    print("searchers:")
    for s in SEARCHERS.values():
        needs = f"  [needs scheduler {' or '.join(s.schedulers)}]" if s.schedulers else ""
        extra = f"  (extra: {s.extra})" if s.extra else ""
        print(f"  {s.name:<16} {s.summary}{extra}{needs}")
    print("schedulers:")
    for sc in SCHEDULERS.values():
        needs = f"  [needs searcher {' or '.join(sc.searchers)}]" if sc.searchers else ""
        print(f"  {sc.name:<16} {sc.summary}{needs}")
    return 0


def _verbosity(args: argparse.Namespace) -> int:
    return 0 if args.quiet else 2 if args.verbose else 1


def _run(args: argparse.Namespace) -> int:
    import yaml

    from raytune_hpo.config import load_experiment

    overrides = list(args.set or [])
    if args.warm_start:  # a JSON list is YAML, as --set reads its values
        overrides.append(f"warm_start={json.dumps(args.warm_start)}")
    experiment = load_experiment(args.file, overrides)
    plan = experiment.plan(dry_run=args.dry_run)
    if args.dry_run:
        print(yaml.safe_dump(experiment.resolved, sort_keys=False, default_flow_style=None).rstrip())
        print(budget(plan))
        return 0
    return summary(experiment.execute(plan, verbose=_verbosity(args)))


def _resume(args: argparse.Namespace) -> int:
    from raytune_hpo.runner import resume

    return summary(resume(args.directory, retry_errored=args.retry_errored, verbose=_verbosity(args)))


def _show(args: argparse.Namespace) -> int:
    from raytune_hpo.results import load

    results = load(args.directory)
    states: dict[str, int] = {}
    for trial in results.trials:
        states[trial.status] = states.get(trial.status, 0) + 1
    print(f"{results.name}: {results.path}")
    print(f"state: {results.interruption() or results.state}")
    planned = f" (of {results.planned_trials} planned)" if results.planned_trials else ""
    print("trials: " + (", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())) or "none yet") + planned)
    if results.objectives.several:
        print_front(results, sys.stdout)
    elif (best_trial := results.best_trial) is not None and results.best_metrics is not None:
        print(
            f"best {results.metric} ({results.mode}): {results.best_metrics[results.metric]:.6g} "
            f"at iteration {results.best_metrics.get('training_iteration')} of {best_trial.name}"
        )
        print(f"best configuration: {results.best_config}")
    print_errors(results, sys.stdout)
    return 0


def _rerun(args: argparse.Namespace) -> int:
    from raytune_hpo.rerun import rerun

    rerun(args.directory, args.trial)
    return 0


def _tensorboard(args: argparse.Namespace) -> int:
    from raytune_hpo.tracking._tensorboard_server import serve

    serve(args.directories, port=args.port, host=args.host)
    return 0


def _report(args: argparse.Namespace) -> int:
    from raytune_hpo.results import load
    from raytune_hpo.tracking._report import write_comparison, write_report

    experiments = [load(directory) for directory in args.directories]
    if len(experiments) == 1:
        print(write_report(experiments[0], args.output))
    else:
        print(write_comparison(experiments, args.output))
    return 0


def _export(args: argparse.Namespace) -> int:
    """The run table (the default, or with --format/--output), and whatever else is asked for:
    an Optuna study, DVC's params and metrics files; each file written printed on its line."""
    from raytune_hpo.results import load
    from raytune_hpo.tracking._export import export_table

    results = load(args.directory)
    written = []
    if args.params or args.metrics:
        from raytune_hpo.tracking._dvc import write_params_metrics

        written += write_params_metrics(results, args.params, args.metrics, args.trial)
    elif args.trial:
        raise ConfigError("--trial: picks the trial --params and --metrics write; give one of them")
    if args.optuna:
        from raytune_hpo.tracking._optuna_study import export_study

        written.append(export_study(results, args.optuna, args.study))
    elif args.study:
        raise ConfigError("--study: names the study --optuna writes; give --optuna JOURNAL")
    if not written or args.format or args.output:
        written.append(export_table(results, args.format or "csv", args.output))
    print("\n".join(written))
    return 0


def budget(plan) -> str:
    """The planned budget in iterations, and the rungs where trials are stopped."""
    from raytune_hpo.schedulers._rungs import describe

    lines = [f"budget: {plan.num_samples} trials"]
    if plan.max_t:
        lines[0] += f" x at most {plan.max_t} iterations = {plan.num_samples * plan.max_t} iterations at most"
    lines.extend(plan.space.describe())
    if plan.warm:
        lines.append(plan.warm.describe())
    objectives = plan.options.objectives
    if objectives.compound:
        lines.append(f"objectives: {objectives.describe()}")
    if plan.scheduler.rungs is not None:
        lines.extend(describe(plan.scheduler.rungs, plan.scheduler_settings, plan.max_t, plan.trials))
        if objectives.compound:
            lines.append("each rung ranks its trials by non-dominated sorting, infeasible ones last")
    return "\n".join(lines)


def _bench(args: argparse.Namespace) -> int:
    # Ray's newer console output prints a banner per experiment even when asked for silence.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if args.benchmark == "overhead":
        from raytune_hpo.bench import overhead
        from raytune_hpo.bench._fair import save

        runs = overhead.overhead(args.trials, args.trial_seconds, args.repeats, args.warmup)
        text = overhead.table(runs)
        print(text)
        if args.out:
            print("raw output: " + save(args.out, f"overhead-{args.trials}x{args.trial_seconds:g}s", runs, text))
    elif args.benchmark in ("optimizers", "warm-start"):
        from raytune_hpo.bench import optimizers, warm_start

        names = optimizers.check_names("problems", args.problems, list(optimizers.problems()))
        pairings = optimizers.check_names("pairings", args.pairings, optimizers.known_pairings())
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        if args.benchmark == "optimizers":
            _, text = optimizers.optimizers(seeds, names, pairings, args.budget, args.out)
        else:
            text = warm_start.warm_start(
                seeds, names or warm_start.PROBLEMS, pairings or warm_start.PAIRINGS, args.budget, args.out
            )
        print(text)
        print(f"written to {args.out}/")
    elif args.benchmark == "load":
        from raytune_hpo.bench import load
        from raytune_hpo.bench._fair import save

        runs, problems, read = load.load(args.trials, args.repeats, args.warmup)
        text = load.table(runs, problems, read)
        print(text)
        if args.out:
            print("raw output: " + save(args.out, f"load-{args.trials}", runs, text))
        return 1 if problems else 0
    elif args.benchmark == "suggest":
        from raytune_hpo.bench import suggest

        print(suggest.table(suggest.suggest(trials=args.trials), args.trials))
    else:
        from raytune_hpo.bench import gpu

        print(gpu.gpu())
    return 0


def _slurm(args: argparse.Namespace) -> int:
    from raytune_hpo import slurm

    job, script = slurm.prepare(
        args.file,
        args.set or [],
        profile=args.profile,
        resume=args.resume,
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        cpus_per_gpu=args.cpus_per_gpu,
        cpus_per_node=args.cpus_per_node,
        time=args.time,
        signal_s=args.signal_seconds,
        max_requeues=args.max_requeues,
        partition=args.partition,
        account=args.account,
        qos=args.qos,
        constraint=args.constraint,
    )
    if args.dry_run:
        print(script, end="")
        return 0
    job_id, path = slurm.submit(job, script)
    log = slurm.log_path(job, job_id)
    print(f"submitted job {job_id}: {job.nodes} nodes x {job.gpus_per_node} GPUs, experiment {job.experiment_dir}")
    print(f"job script: {path}")
    print(f"log: {log}")
    print(f"follow it: squeue -j {job_id}; tail -f {log}; raytune-hpo show {job.experiment_dir}")
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from raytune_hpo.slurm import cluster_up, warn_driver

    if args.action == "warn":
        return warn_driver()
    return cluster_up(
        args.file,
        args.set or [],
        max_requeues=args.max_requeues,
        join_timeout=args.join_timeout,
        interface=args.interface,
        temp_root=args.temp_dir,
    )


def _count(text: str) -> int:
    """An integer for argparse; its range is checked with the option's own message."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake told in one line (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="raytune-hpo", description="Hyperparameter optimisation on Ray Tune.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="the searchers and schedulers, one line each").set_defaults(handler=_list)
    run = commands.add_parser("run", help="run an experiment file")
    run.add_argument("file")
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY.PATH=VALUE",
        help="override a field of the file (repeatable), e.g. --set num_samples=4",
    )
    run.add_argument(
        "--warm-start",
        action="append",
        metavar="DIR",
        help="an earlier experiment whose finished trials the searcher learns from first (repeatable); "
        "the file's warm_start field, replaced",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file, print the resolved configuration and budget; start nothing",
    )
    for command in (run, resume := commands.add_parser("resume", help="finish an interrupted experiment")):
        noise = command.add_mutually_exclusive_group()
        noise.add_argument("--quiet", action="store_true", help="print only the summary")
        noise.add_argument("--verbose", action="store_true", help="Ray Tune's own output")
    run.set_defaults(handler=_run)
    resume.add_argument("directory")
    resume.add_argument("--retry-errored", action="store_true", help="also rerun the trials that failed")
    resume.set_defaults(handler=_resume)
    show = commands.add_parser("show", help="an experiment's status: trials by state, best so far")
    show.add_argument("directory")
    show.set_defaults(handler=_show)

    again = commands.add_parser("rerun", help="run one trial's exact configuration again, alone, here")
    again.add_argument("directory")
    again.add_argument("trial", help="the trial's id, name or number")
    again.set_defaults(handler=_rerun)

    board = commands.add_parser("tensorboard", help="TensorBoard on experiments: scalars and HParams, live")
    board.add_argument("directories", nargs="+", metavar="DIR")
    board.add_argument("--port", type=_count, help="default: the first free one from 6006")
    board.add_argument("--host", help="address to bind (default 127.0.0.1, this machine only)")
    board.set_defaults(handler=_tensorboard)

    report = commands.add_parser("report", help="the static HTML report of an experiment, or a comparison of several")
    report.add_argument("directories", nargs="+", metavar="DIR")
    report.add_argument(
        "--output",
        metavar="FILE",
        help="default: DIR/report.html, or DIR1/comparison.html for several; plots beside it",
    )
    report.set_defaults(handler=_report)

    export = commands.add_parser(
        "export", help="the run table as a file; an Optuna study; DVC's params and metrics of the best trial"
    )
    export.add_argument("directory", metavar="DIR")
    export.add_argument("--format", help="of the run table (a row per trial, best first): csv (default) or parquet")
    export.add_argument("--output", metavar="FILE", help="of the run table; default: DIR/run_table.<format>")
    export.add_argument("--optuna", metavar="JOURNAL", help="the experiment as an Optuna study in this journal file")
    export.add_argument("--study", metavar="NAME", help="the Optuna study's name; default: the experiment's")
    export.add_argument("--params", metavar="FILE", help="the best configuration, for dvc params diff (.yaml, .json)")
    export.add_argument("--metrics", metavar="FILE", help="its metrics, for dvc metrics show (.json, .yaml)")
    export.add_argument("--trial", metavar="ID", help="export this trial's instead of the best (several objectives)")
    export.set_defaults(handler=_export)

    submit = commands.add_parser("slurm", help="run an experiment file as a SLURM job on a multi-node Ray cluster")
    submit.add_argument("file")
    submit.add_argument("--nodes", type=_count, required=True)
    submit.add_argument("--gpus-per-node", type=_count, required=True, help="0 for a CPU-only job")
    submit.add_argument("--cpus-per-gpu", type=_count, help="default: the profile's")
    submit.add_argument("--cpus-per-node", type=_count, help="default: GPUs x CPUs per GPU; required without GPUs")
    submit.add_argument("--time", help="HH:MM:SS or D-HH:MM:SS; default: the profile's")
    submit.add_argument("--partition")
    submit.add_argument("--account")
    submit.add_argument("--qos", help="default: chosen by the profile from --time")
    submit.add_argument("--constraint", help="node kind, e.g. h100 on Jean Zay")
    submit.add_argument("--profile", default="generic", help="generic, jean-zay, or a profile .yaml file")
    submit.add_argument(
        "--signal-seconds",
        type=_count,
        help="warning before the time limit, to save and requeue (default 300, a quarter of a short job)",
    )
    submit.add_argument("--max-requeues", type=_count, default=3, help="requeues after time limits (default 3)")
    submit.add_argument("--resume", action="store_true", help="continue an existing experiment")
    submit.add_argument("--set", action="append", metavar="KEY.PATH=VALUE", help="override a field of the file")
    submit.add_argument("--dry-run", action="store_true", help="print the job script; submit nothing")
    submit.set_defaults(handler=_slurm)

    cluster = commands.add_parser("cluster", help="inside a SLURM job: the Ray cluster and the driver")
    actions = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="run by srun, one task per node: Ray head/workers, then the experiment")
    up.add_argument("file")
    up.add_argument("--set", action="append", metavar="KEY.PATH=VALUE")
    up.add_argument("--max-requeues", type=_count, default=3)
    up.add_argument("--join-timeout", type=_positive_int, default=300, help="seconds to wait for every node")
    up.add_argument("--interface", help="network interface whose address Ray uses (default: the route to the head)")
    up.add_argument("--temp-dir", default="/tmp", help="node-local folder for Ray's sessions (default /tmp)")
    up.set_defaults(handler=_cluster)
    warn = actions.add_parser("warn", help="run by the job script on SLURM's time-limit signal: tell the driver")
    warn.set_defaults(handler=_cluster)

    bench = commands.add_parser("bench", help="benchmarks against plain Ray Tune, in one run")
    bench.set_defaults(handler=_bench)
    kinds = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    overhead = kinds.add_parser("overhead", help="short-trial throughput: Ray Tune's defaults, reuse_actors, ours")
    overhead.add_argument("--trials", type=_positive_int, default=40)
    overhead.add_argument("--trial-seconds", type=float, default=0.0)
    overhead.add_argument(
        "--repeats", type=_positive_int, default=5, help="runs of each setting, in rotating order (default 5)"
    )
    suggest = kinds.add_parser("suggest", help="median time of a searcher's suggest at trial 10 and the last")
    suggest.add_argument("--trials", type=_positive_int, default=500)
    quality = kinds.add_parser(
        "optimizers",
        help="searcher x scheduler pairings and the reference implementations (hpbandster's BOHB, the dehb "
        "package, plain Optuna, plain Ray BOHB) on multi-fidelity problems: budget to reach random search's "
        "median final incumbent, speed-up, final regret, Mann-Whitney p-values",
    )
    quality.add_argument(
        "--problems",
        nargs="+",
        metavar="PROBLEM",
        help="branin, hartmann6, counting_ones, digits (the default: all four); with two objectives, "
        "scored by hypervolume: branin_currin, digits_size",
    )
    quality.add_argument(
        "--pairings",
        nargs="+",
        metavar="PAIRING",
        help="default: random, random+asha, random+hyperband, tpe, tpe+asha, tpe+hyperband, hyperopt, "
        "hyperopt+asha, gp, cmaes, bohb, dehb, ray-bohb, hpbandster-bohb, dehb-package, optuna-plain; also "
        "evolution, pso, random+sha, nsga2, nsga2+asha; on problems with two objectives the default is random, "
        "random+asha, nsga2, nsga2+asha",
    )
    quality.add_argument(
        "--out",
        default="bench-optimizers",
        help="folder of runs.jsonl, table.md, "
        "best_so_far.png; runs already there are not run again (default bench-optimizers)",
    )
    warm = kinds.add_parser(
        "warm-start",
        help="the budget a warm-started run needs to reach the final incumbent of the same run started cold, "
        "the first experiment with another seed over a wider space",
    )
    warm.add_argument("--problems", nargs="+", metavar="PROBLEM", help="default: branin, hartmann6")
    warm.add_argument("--pairings", nargs="+", metavar="PAIRING", help="default: tpe")
    for command, seeds in ((quality, 20), (warm, 10)):  # runs of the optimiser benchmark, both
        command.add_argument("--seeds", type=_positive_int, default=seeds, help=f"seeds per pairing (default {seeds})")
        command.add_argument("--first-seed", type=int, default=0, help="the seeds are FIRST..FIRST+SEEDS-1 (default 0)")
        command.add_argument(
            "--budget",
            type=_positive_int,
            default=1080,
            help="training iterations per run (default 1080 = 40 trials of 27)",
        )
    warm.add_argument(
        "--out",
        default="bench-warm-start",
        help="folder of runs.jsonl and table.md; runs already there are not run again (default bench-warm-start)",
    )
    heavy = kinds.add_parser(
        "load",
        help="one experiment of many trivial trials: all accounted for, "
        "wall time and the driver's peak memory against plain Ray Tune",
    )
    heavy.add_argument("--trials", type=_positive_int, default=2000)
    heavy.add_argument(
        "--repeats", type=_positive_int, default=3, help="runs of each setting, in alternating order (default 3)"
    )
    for command in (overhead, heavy):
        command.add_argument(
            "--warmup", type=_count, default=10, help="untimed trials each run starts with (default 10)"
        )
        command.add_argument("--out", metavar="DIR", help="also write the table and every run's raw measurements there")
    kinds.add_parser("gpu", help="8 short GPU trials: wall time against serial compute, GPU utilisation")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # argparse exits with 2 on bad usage
    try:
        return args.handler(args)
    except HPOError as e:
        print(f"raytune-hpo: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        try:
            print(f"raytune-hpo: {e}", file=sys.stderr)
        except OSError:  # the terminal is gone (SIGHUP): the journal says it all
            pass
        return 130
    except BrokenPipeError:  # `raytune-hpo list | head`: the reader has gone, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
