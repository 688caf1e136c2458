"""How much each parameter matters to the objective, with the method that says so.

fANOVA (Hutter et al. 2014) through Optuna's ``FanovaImportanceEvaluator``, on an in-memory
study made of the trials (each trial's best value, its parameters with distributions read
from the values, see ``_parameters``); where Optuna is missing, scikit-learn's random-forest
impurity importance. Both fit a random forest, so both need scikit-learn. Too few trials give
noise, not importance, and one parameter has all there is: then there is a sentence instead.
Beyond ``MAX_TRIALS`` trials the forest is fitted on a random sample of that many (seeded): the
importances barely move, and the report of a 10,000-trial experiment takes seconds, not minutes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from raytune_hpo._library import quiet_optuna
from raytune_hpo.tracking._parameters import Parameter, label

MIN_TRIALS = 5
MAX_TRIALS = 500
SEED = 0  # the forests are random: the same experiment gives the same importances


@dataclass(frozen=True)
class Importance:
    method: str | None  # None where skipped; ``note`` says why
    scores: dict[str, float] = field(default_factory=dict)  # name -> share, largest first
    note: str = ""


def importance(params: list[Parameter], objective: list[float], metric: str, mode: str) -> Importance:
    """Importance of ``params`` (each with a value per trial) for ``objective`` (per trial)."""
    rows = [
        i for i, value in enumerate(objective) if math.isfinite(value) and all(p.values[i] is not None for p in params)
    ]
    if not params:
        return Importance(None, note="No parameter varies between trials: there is no importance to assess.")
    if len(params) == 1:
        return Importance(
            None,
            note=f"Only {params[0].name} varies between trials: there is no other "
            "parameter to compare its importance with.",
        )
    if len(rows) < MIN_TRIALS:
        return Importance(
            None,
            note=(
                f"Parameter importance needs at least {MIN_TRIALS} trials with a finite {metric} "
                f"and every parameter set; this experiment has {len(rows)}."
            ),
        )
    sampled = ""
    if len(rows) > MAX_TRIALS:
        rows = sorted(random.Random(SEED).sample(rows, MAX_TRIALS))
        sampled = f", on a random sample of {MAX_TRIALS} of the {len(objective)} trials"
    try:
        import sklearn  # noqa: F401  (both methods fit its random forests)
    except ImportError:
        return Importance(
            None,
            note=(
                "Parameter importance needs scikit-learn (and Optuna for fANOVA): "
                "pip install 'raytune-hpo[report,optuna]'."
            ),
        )
    try:
        import optuna
    except ImportError:
        method, scores = _forest(params, objective, rows)
    else:
        method, scores = _fanova(optuna, params, objective, rows, mode)
    return Importance(method + sampled, scores)


def _fanova(
    optuna, params: list[Parameter], objective: list[float], rows: list[int], mode: str
) -> tuple[str, dict[str, float]]:
    """The method's name and each parameter's share, largest first."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    def distribution(p: Parameter):
        if p.categories is not None:
            return CategoricalDistribution(p.categories)
        present = [p.values[i] for i in rows]
        if p.integer:
            return IntDistribution(int(min(present)), int(max(present)), log=p.log)
        return FloatDistribution(float(min(present)), float(max(present)), log=p.log)

    def value(p: Parameter, i: int):
        v = p.values[i]
        if p.categories is not None:
            return label(v)
        return int(v) if p.integer else float(v)

    distributions = {p.name: distribution(p) for p in params}
    trials = [
        optuna.trial.create_trial(
            params={p.name: value(p, i) for p in params}, distributions=distributions, value=objective[i]
        )
        for i in rows
    ]
    with quiet_optuna("optuna", "parameter importance"):  # no "study created" line in the user's log
        study = optuna.create_study(direction="minimize" if mode == "min" else "maximize")
        study.add_trials(trials)
        scores = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=SEED)
        )
    return "fANOVA (Optuna's FanovaImportanceEvaluator)", _largest_first(scores)


def _forest(params: list[Parameter], objective: list[float], rows: list[int]) -> tuple[str, dict[str, float]]:
    """The method's name and each parameter's share, largest first."""
    from sklearn.ensemble import RandomForestRegressor

    positions = [p.positions() for p in params]
    features = [[column[i] for column in positions] for i in rows]
    forest = RandomForestRegressor(n_estimators=64, random_state=SEED)
    forest.fit(features, [objective[i] for i in rows])
    scores = dict(zip((p.name for p in params), (float(s) for s in forest.feature_importances_)))
    return (
        "random-forest impurity importance (scikit-learn; Optuna, for fANOVA, is not installed)",
        _largest_first(scores),
    )


def _largest_first(scores: dict[str, float]) -> dict[str, float]:
    return dict(sorted(scores.items(), key=lambda item: -item[1]))
