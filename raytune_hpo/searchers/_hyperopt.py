"""``hyperopt``: hyperopt's tree-structured Parzen estimator, through Ray's adapter (``tpe``
until Optuna's multivariate TPE took that name: :mod:`._optuna`). It models each parameter
alone (independent TPE).

A conditional space is hyperopt's own form of one: a branch is an ``hp.choice`` among its
options, each a dict of the expressions of the parameters inside it (nested branches nest
further), so hyperopt draws, and models, a parameter only in the trials where its option was
chosen: TPE is tree-structured for that reason (Bergstra et al. 2011). Each suggestion is read
from hyperopt's record of the trial (its ``vals``: a value for each parameter drawn, the
option's index for a branch), which holds exactly the active parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ray.tune.search.hyperopt import HyperOptSearch  # imports without hyperopt; asserts on use

from raytune_hpo._library import require
from raytune_hpo._objectives import Objectives
from raytune_hpo._warm_start import WarmTrial
from raytune_hpo.searchers._common import CompletingSearcher, SearcherRequest, limit_concurrency
from raytune_hpo.space import Choice, Float, Integer, Param, Space


class TPESearcher(CompletingSearcher, HyperOptSearch):  # its name pickled in experiments saved as tpe
    def warm_start(self, trials: Sequence[WarmTrial], objectives: Objectives) -> None:
        """Each earlier trial a completed hyperopt trial: its values recorded as hyperopt
        records a trial it drew (``vals``: a value per label drawn, none for the others), its
        standing value as the loss. They count towards ``n_initial_points``."""
        import hyperopt

        labels = list(self._hpo_space.params)
        docs = []
        for trial in trials:
            (tid,) = self._hpopt_trials.new_trial_ids(1)
            vals = {label: [trial.values[label]] if label in trial.values else [] for label in labels}
            misc = {
                "tid": tid,
                "cmd": ("domain_attachment", "FMinIter_Domain"),
                "workdir": None,
                "idxs": {label: [tid] if drawn else [] for label, drawn in vals.items()},
                "vals": vals,
            }
            result = {"loss": self.metric_op * trial.standing(objectives), "status": hyperopt.STATUS_OK}
            (doc,) = self._hpopt_trials.new_trial_docs([tid], [None], [result], [misc])
            doc["state"] = hyperopt.JOB_STATE_DONE
            docs.append(doc)
        self._hpopt_trials.insert_trial_docs(docs)
        self._hpopt_trials.refresh()

    def suggest(self, trial_id: str):
        suggestion = HyperOptSearch.suggest(self, trial_id)
        if not isinstance(suggestion, Mapping):  # None (wait) or Searcher.FINISHED
            return suggestion
        drawn = self._live_trial_mapping[trial_id][1]["misc"]["vals"]  # {label: [value] or []}
        return self._hpo_space.complete({label: values[0] for label, values in drawn.items() if values})


def build_hyperopt(request: SearcherRequest):
    require("hyperopt", "hyperopt", f"searcher {request.name!r}")
    kwargs = request.library_options(HyperOptSearch.__init__, reserved=("space", "metric", "mode", "random_state_seed"))
    searcher = TPESearcher(
        hpo_space=request.space,
        space=to_hyperopt(request.space, request.name),
        metric=request.metric,
        mode=request.mode,
        random_state_seed=request.seed,
        **{"n_initial_points": 10, **kwargs},
    )
    return limit_concurrency(searcher, request.max_concurrent), {}


def to_hyperopt(space: Space, searcher: str = "hyperopt") -> dict:
    """A dict of hyperopt expressions labelled by path: one per parameter outside any branch,
    a branch's options as dicts of their own (see the module's docstring); a grid or a
    Ray-sampled domain is refused naming ``searcher``."""
    hp = require("hyperopt", "hyperopt", f"searcher {searcher!r}").hp
    params = space.searchable(searcher)
    inside: dict[tuple[str, int] | None, list[str]] = {}  # the parameters of each option
    for name, needs in space.conditions.items():
        inside.setdefault(needs[-1] if needs else None, []).append(name)

    def expr(name: str, p: Param):
        if isinstance(p, Choice) and name in space.branch_points:
            return hp.choice(name, [group((name, i)) for i in range(len(p.options))])
        if isinstance(p, Choice):
            return hp.choice(name, list(range(len(p.options))))
        if isinstance(p, Integer):
            q = p.q or 1
            if p.log:
                return hp.qloguniform(name, math.log(p.low), math.log(p.high - 1), q)
            return hp.quniform(name, p.low, p.high - 1, q)
        # searchable() refused grids and Ray domains, so what is left is a Float
        assert isinstance(p, Float)
        if p.log:
            if p.q:
                return hp.qloguniform(name, math.log(p.low), math.log(p.high), p.q)
            return hp.loguniform(name, math.log(p.low), math.log(p.high))
        return hp.quniform(name, p.low, p.high, p.q) if p.q else hp.uniform(name, p.low, p.high)

    def group(option: tuple[str, int] | None) -> dict:
        return {name: expr(name, params[name]) for name in inside.get(option, [])}

    return group(None)
