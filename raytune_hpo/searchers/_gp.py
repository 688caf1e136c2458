"""``gp``: Gaussian-process Bayesian optimisation — Optuna's ``GPSampler`` (a GP with a Matérn
5/2 kernel, log expected improvement maximised by L-BFGS-B; torch and scipy underneath),
through the same Ray adapter as ``optuna`` (:func:`._optuna.optuna_searcher`).

What it searches, all natively (in the GP's model):

- ``uniform``/``loguniform`` floats (log ones in log space); ``quniform`` as Optuna's stepped
  floats; ``qloguniform`` as a log float, rounded onto its grid by :meth:`Space.complete`;
- ``randint`` integers (log-scaled too; ``q`` as Optuna's step, or applied by
  :meth:`Space.complete` on a log scale);
- ``choice`` parameters (a categorical kernel: options differ or not, no order);
- nested groups (parameters are addressed by path). Conditional parameters (one that exists
  only for some value of another) cannot be written in a space, so no searcher here models them.

Refused in one line: ``hpo.grid`` and Ray-sampled domains (``sample_from``, ``randn``):
searchers ``grid`` and ``random`` take them.

The first ``n_initial_points`` (10) trials are random (seeded); after that every suggestion
fits the GP to all finished trials, and trials still running are accounted for (q-batch
log EI), so parallel trials do not pile onto one point. Fitting costs grow with the number of
trials (cubically): well suited to tens or a few hundred trials, not thousands. With ``seed=``
and ``max_concurrent=1`` the sequence of configurations is the same on every run.

Several objectives: one GP per objective, and the next trial maximises the log expected
hypervolume improvement over the trials so far (q-batch with trials still running).
Constraints: natively, one GP per constraint models its value (:mod:`._optuna` sets each
trial's, the largest over its reports), and the acquisition is weighted by the probability
of being feasible (constrained EI, or EHVI with several objectives).

Options: ``n_initial_points`` (= ``n_startup_trials``), any other ``GPSampler`` argument
(``deterministic_objective``, ...) but ``constraints_func`` (constraints are
``hpo.run(constraints=...)``).
"""

from __future__ import annotations

from raytune_hpo.searchers._common import SearcherRequest
from raytune_hpo.searchers._optuna import optuna_searcher


def build_gp(request: SearcherRequest):
    return optuna_searcher(
        request,
        "GPSampler",
        defaults={"n_startup_trials": 10},
        needs=("torch", "scipy"),
    )
