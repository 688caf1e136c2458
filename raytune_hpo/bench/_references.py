"""The reference implementations run beside ours by ``raytune-hpo bench optimizers``, on the
same problems and budget, scored by the same code:

- ``ray-bohb``: plain Ray Tune's BOHB (``TuneBOHB`` + ``HyperBandForBOHB``, as Ray's
  documentation sets it up, ``reuse_actors=True``), two trials at a time as ours;
- ``hpbandster-bohb``: the original BOHB, hpbandster's ``BOHB`` master with its nameserver and
  one worker in this process (hpbandster's own loop: one configuration at a time);
- ``dehb-package``: the original DEHB, the ``dehb`` package's ``DEHB`` through ``ask``/``tell``;
- ``optuna-plain``: what an Optuna user writes: a study's own ``ask``/``tell`` loop with
  ``TPESampler()`` (Optuna's defaults: multivariate TPE, constant liar) and
  ``HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3)``, each trial
  reporting every iteration.

The last three evaluate configurations in this process (the problem's trainable in a
:class:`~raytune_hpo.trainable.LocalTrial`) and are charged as the harness charges our
schedulers' trials: one iteration of the budget per report, a configuration evaluated again at
a larger budget going on from its state at the last (as a paused trial resumes from its
checkpoint) and charged only its extra iterations. hpbandster's and DEHB's own examples charge
a fresh evaluation instead (the whole budget again): each run also records what that
accounting would have charged for the same reports (``fresh``).

``dehb-package`` and ``optuna-plain`` run two jobs at a time, as ours do, on a clock that
counts iterations: in each round every running job makes one report, in the order the jobs
started; a job that ends is told to its optimiser and replaced by a new one from ``ask``. The
order of the reports is therefore that of two equally fast workers, and the same on every
machine.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytune_hpo.bench.problems import MAX_T, Problem, at_rung
from raytune_hpo.space import Space

CONCURRENCY = 2  # jobs at a time, as the harness runs ours
ETA = 3


@dataclass
class Record:
    """What a reference run made: every report in the order made (``reported_at`` orders
    them), the trials (configurations) it evaluated, and what a fresh evaluation of each job
    would have charged (None where the run is charged no other way)."""

    reports: list[dict]
    trials: int
    fresh: int | None = None


# -- evaluation in this process, charged as the harness charges ----------------------------------


class Ledger:
    """The reports charged to one run, in the order made, each one iteration of ``budget``;
    each configuration's reports computed in this process as far as they are asked for."""

    def __init__(self, problem: Problem, budget: int):
        self.problem = problem
        self.budget = budget
        self.reports: list[dict] = []
        self.fresh = 0
        self._curves: dict[str, tuple[list[dict], dict | None]] = {}  # key: reports made, last state
        self._charged: dict[str, int] = {}  # key: iterations charged

    @property
    def exhausted(self) -> bool:
        return len(self.reports) >= self.budget

    @property
    def trials(self) -> int:
        return len(self._charged)

    def report(self, config: dict, iteration: int) -> dict:
        """The configuration's report at ``iteration`` (1, 2, ...), computed if it was not:
        on from its last state, up to the next iteration with a checkpoint."""
        from raytune_hpo.trainable import LocalTrial, TrialDone

        key = _key(config)
        made, state = self._curves.get(key, ([], None))
        if len(made) < iteration:
            # On to the next iteration the problem saves a checkpoint at (or its last): where
            # this configuration can go on from later.
            last = max_t(config)
            until = next(t for t in range(iteration, last + 1) if t == last or at_rung(t, last))
            with LocalTrial(max_iterations=until, checkpoint=state, done=len(made)) as trial:
                with contextlib.suppress(TrialDone):
                    self.problem.trainable(config)
            made, state = made + trial.reports, trial.checkpoint
            self._curves[key] = (made, state)
        return made[iteration - 1]

    def charge(self, config: dict, iteration: int) -> dict:
        """Charge the configuration's report at ``iteration`` (made now) and return it, with
        ``trial``: the configuration's number, in the order they were first charged."""
        key = _key(config)
        self._charged[key] = max(self._charged.get(key, 0), iteration)
        trial = list(self._charged).index(key)
        report = {**self.report(config, iteration), "reported_at": float(len(self.reports)), "trial": trial}
        self.reports.append(report)
        return report

    def continue_to(self, config: dict, iterations: int) -> Iterator[dict]:
        """Run the configuration to ``iterations``, charging the iterations beyond those
        charged for it before, one report per step; a fresh evaluation would be charged all
        ``iterations``."""
        self.fresh += iterations
        for t in range(self._charged.get(_key(config), 0) + 1, iterations + 1):
            yield self.charge(config, t)

    def value(self, config: dict, iterations: int) -> float:
        return float(self.report(config, iterations)["value"])


def max_t(config: dict) -> int:
    """A configuration's full fidelity: the problems' spaces hold it as a constant."""
    return int(config.get("max_t", MAX_T))


def _key(config: dict) -> str:
    return json.dumps(config, sort_keys=True, default=str)


Job = Iterator[Any]  # one step per report charged; ends once told to its optimiser


def run_jobs(ledger: Ledger, start: Callable[[], Job], concurrency: int = CONCURRENCY) -> None:
    """Run jobs ``concurrency`` at a time until the budget is spent: in each round every job
    takes one step, in the order they started; a job that ends is replaced at once by
    ``start()``'s next."""
    slots: list[Job | None] = [None] * concurrency
    idle = 0  # jobs in a row that ended without charging anything
    while not ledger.exhausted:
        for i in range(concurrency):
            while True:
                if slots[i] is None:
                    slots[i] = start()
                before = len(ledger.reports)
                if next(slots[i], StopIteration) is StopIteration:  # type: ignore[arg-type]
                    slots[i] = None
                    idle = 0 if len(ledger.reports) > before else idle + 1
                    if idle > 10_000:
                        raise RuntimeError("the optimiser keeps proposing jobs that cost nothing")
                    continue
                idle = 0
                break


# -- the optimisers ----------------------------------------------------------------------------


def run_optuna_plain(problem: Problem, seed: int, budget: int) -> Record:
    """Plain Optuna: ``TPESampler(seed=seed)`` with its defaults and ``HyperbandPruner``, its
    own study loop through ``ask``/``tell``, two trials at a time."""
    from raytune_hpo._library import quiet_optuna
    from raytune_hpo.searchers._optuna import optuna_distribution

    space = Space(problem.space)
    distributions = {name: optuna_distribution(p) for name, p in space.searchable("optuna").items()}
    ledger = Ledger(problem, budget)
    with quiet_optuna("optuna", "pairing 'optuna-plain'") as optuna:
        study = optuna.create_study(
            # HyperbandPruner puts a trial in a bracket by a hash of the study's name and the
            # trial's number: a name of the seed's keeps the run reproducible.
            study_name=f"optuna-plain-{seed}",
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=MAX_T, reduction_factor=ETA),
        )

        def job() -> Job:
            trial = study.ask(distributions)
            config = space.complete(trial.params)
            for report in ledger.continue_to(config, max_t(config)):
                step = int(report["training_iteration"])
                trial.report(float(report["value"]), step)
                if trial.should_prune():
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    yield
                    return
                if step == max_t(config):
                    study.tell(trial, float(report["value"]))
                yield

        run_jobs(ledger, job)
    # Optuna's trials, pruned ones included, each reported at least once.
    return Record(ledger.reports, len(study.trials))


def run_dehb_package(problem: Problem, seed: int, budget: int) -> Record:
    """The ``dehb`` package's DEHB (fidelities 1 to 27, η = 3) through ``ask``/``tell``, two
    jobs at a time; a promoted configuration goes on from its last fidelity."""
    from raytune_hpo._library import require

    dehb = require("dehb", "bench", "pairing 'dehb-package'", install=_DEHB_INSTALL)
    from raytune_hpo.searchers._bohb import to_configspace

    space = Space(problem.space)
    ledger = Ledger(problem, budget)
    with tempfile.TemporaryDirectory(prefix="hpo-dehb-package-") as output:
        optimizer = dehb.DEHB(
            cs=to_configspace(space, seed=seed),
            min_fidelity=1,
            max_fidelity=MAX_T,
            eta=ETA,
            n_workers=1,
            seed=seed,
            output_path=output,
            save_freq="end",  # its state saved only at the end of its own run loop, never called here
            log_level="ERROR",
        )

        def job() -> Job:
            info = optimizer.ask()
            # A ConfigSpace Configuration; complete coerces its NumPy values to Python's.
            config = space.complete(dict(info["config"]))
            fidelity = round(info["fidelity"])
            charged = 0
            for _ in ledger.continue_to(config, fidelity):
                charged += 1
                yield
            optimizer.tell(info, {"fitness": ledger.value(config, fidelity), "cost": charged})

        run_jobs(ledger, job)
    return Record(ledger.reports, ledger.trials, ledger.fresh)


def run_hpbandster_bohb(problem: Problem, seed: int, budget: int) -> Record:
    """hpbandster's BOHB (budgets 1 to 27, η = 3, its defaults otherwise): its master, an
    in-process nameserver on 127.0.0.1 and one worker thread; NumPy's global generator, which
    its model samples from, seeded with ``seed`` for the run and put back after."""
    from raytune_hpo._library import require

    require("hpbandster", "bohb", "pairing 'hpbandster-bohb'")
    import hpbandster.core.nameserver as hpns
    from hpbandster.core.worker import Worker
    from hpbandster.optimizers import BOHB

    from raytune_hpo.searchers._bohb import to_configspace

    space = Space(problem.space)
    ledger = Ledger(problem, budget)

    class LedgerWorker(Worker):
        def compute(self, config: dict, budget: float, **kwargs: Any) -> dict:
            if ledger.exhausted:  # past the budget nothing counts: answer without computing
                return {"loss": float("inf"), "info": {}}
            full = space.complete(config)
            for _ in ledger.continue_to(full, round(budget)):
                pass
            return {"loss": ledger.value(full, round(budget)), "info": {}}

    run_id = f"hpo-bench-{os.getpid()}-{seed}"
    quiet = logging.getLogger("hpbandster-bench")
    quiet.setLevel(logging.ERROR)
    numpy_state = np.random.get_state()
    np.random.seed(seed % 2**32)
    with tempfile.TemporaryDirectory(prefix="hpo-hpbandster-") as directory, _pyro_pickle():
        nameserver = hpns.NameServer(run_id=run_id, host="127.0.0.1", port=0, working_directory=directory)
        host, port = nameserver.start()
        try:
            worker = LedgerWorker(run_id=run_id, nameserver=host, nameserver_port=port, logger=quiet)
            worker.run(background=True)
            master = BOHB(
                configspace=to_configspace(space, seed=seed),
                run_id=run_id,
                nameserver=host,
                nameserver_port=port,
                min_budget=1,
                max_budget=MAX_T,
                eta=ETA,
                logger=quiet,
            )
            try:
                # A bracket charges at least 63 iterations (s = 2: 9 × 3 + 3 × 6 + 1 × 18):
                # enough brackets to spend the budget; the ones after it cost nothing.
                master.run(n_iterations=budget // 63 + 2, min_n_workers=1)
            finally:
                master.shutdown(shutdown_workers=True)
        finally:
            nameserver.shutdown()
            np.random.set_state(numpy_state)
    return Record(ledger.reports, ledger.trials, ledger.fresh)


@contextlib.contextmanager
def _pyro_pickle():
    """Pyro4, which carries hpbandster's jobs between master and worker, set to pickle for the
    run and put back after: its default serializer (serpent) writes a float as its repr, and
    NumPy 2 writes a NumPy scalar's repr as ``np.float64(1.0)``, not a Python literal, so
    hpbandster's budgets (NumPy floats) never reach the worker."""
    import Pyro4

    serializer, accepted = Pyro4.config.SERIALIZER, set(Pyro4.config.SERIALIZERS_ACCEPTED)
    Pyro4.config.SERIALIZER = "pickle"
    Pyro4.config.SERIALIZERS_ACCEPTED.add("pickle")
    try:
        yield
    finally:
        Pyro4.config.SERIALIZER = serializer
        Pyro4.config.SERIALIZERS_ACCEPTED = accepted


_DEHB_INSTALL = (
    "pip install 'raytune-hpo[bench]' && pip install --no-deps 'dehb==0.1.2' "
    "(dehb 0.1.2 pins numpy<2, which the toolkit's other dependencies do not allow; it runs on numpy 2)"
)


# -- plain Ray Tune's BOHB -----------------------------------------------------------------------


def run_ray_bohb(problem: Problem, seed: int, budget: int, storage: str, cpus: float) -> Record:
    """Plain Ray Tune's BOHB. Its reports are taken as the driver receives them (a Ray Tune
    callback), not from Ray's JSON log: that log loses the reports a trial made before it was
    paused and restored from a checkpoint, and Ray's BOHB pauses and resumes every promoted
    trial."""
    from ray import tune
    from ray.tune.schedulers import HyperBandForBOHB
    from ray.tune.search.bohb import TuneBOHB

    from raytune_hpo._budget import IterationBudget
    from raytune_hpo._ray.controller import fit
    from raytune_hpo.searchers._bohb import to_configspace

    class Received(tune.Callback):
        def __init__(self) -> None:
            self.reports: list[dict] = []
            self.trials: set[str] = set()

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            if "reported_at" in result:
                self.reports.append(dict(result))
                self.trials.add(trial.trial_id)

    space = Space(problem.space)
    searcher = TuneBOHB(space=to_configspace(space, seed=seed), seed=seed, metric="value", mode="min")
    scheduler = HyperBandForBOHB(
        time_attr="training_iteration", max_t=MAX_T, reduction_factor=ETA, metric="value", mode="min"
    )
    # Its ResultGrid warns about every trial the budget left unstarted.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    received = Received()
    fit(
        tune.Tuner(
            tune.with_resources(_completed(problem.trainable, space), {"cpu": cpus}),
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=100 * (budget // MAX_T + 1), reuse_actors=True
            ),
            run_config=tune.RunConfig(
                name=f"{problem.name}-ray-bohb-{seed}",
                storage_path=storage,
                stop=IterationBudget(budget),
                verbose=0,
                callbacks=[received],
            ),
        )
    )
    return Record(received.reports, len(received.trials))


def _completed(trainable: Callable[[dict], None], space: Space) -> Callable[[dict], None]:
    """``trainable`` on the configuration a ConfigSpace suggestion stands for (choices come
    as indices, constants are not in it)."""

    def trial(config: dict) -> None:
        trainable(space.complete(config))

    trial.__name__ = getattr(trainable, "__name__", "trial")
    return trial


REFERENCES: dict[str, Callable[[Problem, int, int], Record]] = {
    "hpbandster-bohb": run_hpbandster_bohb,
    "dehb-package": run_dehb_package,
    "optuna-plain": run_optuna_plain,
}
RAY_BOHB = "ray-bohb"
