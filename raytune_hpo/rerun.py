"""``raytune-hpo rerun DIR TRIAL``: one trial of a finished experiment run again, alone, in
this process (no Ray): the same configuration, the same seed, up to the experiment's
``max_t``, every report printed beside the one recorded. A deterministic trial reproduces its
metrics exactly. (A scheduler's early stop is not replayed: the trial runs on.)"""

from __future__ import annotations

import math

from raytune_hpo.directory import load_trainable
from raytune_hpo.errors import ConfigError
from raytune_hpo.results import Results, Trial, load
from raytune_hpo.trainable import LocalTrial, TrialDone, seed_everything, trial_index, trial_seed


def find_trial(results: Results, key: str) -> Trial:
    """A trial by its id (``3925c_00011``), its name, or its number (``11``)."""
    for trial in results.trials:
        if key in (trial.trial_id, trial.name) or (key.isdigit() and trial_index(trial.name) == int(key)):
            return trial
    known = ", ".join(t.trial_id for t in results.trials[:5])
    raise ConfigError(f"trial: no trial {key!r} in {results.path}; trial ids look like {known}")


def rerun(path: str, key: str, print_reports: bool = True) -> LocalTrial:
    results = load(path)
    trial = find_trial(results, key)
    trainable = load_trainable(results.path, results.meta)
    seed = results.meta.get("seed")
    if seed is not None:
        seed_everything(trial_seed(seed, trial_index(trial.name)))
    with LocalTrial(max_iterations=results.meta.get("max_t")) as local:
        try:
            returned = trainable(dict(trial.config))
        except TrialDone:  # the experiment's max_t; early stopping by a scheduler is not replayed
            returned = None
        if isinstance(returned, dict):
            local.reports.append({**returned, "training_iteration": len(local.reports) + 1})
    if print_reports:
        metrics = results.objectives.metrics
        print(f"{trial.name}: {trial.config}")
        recorded = {r.get("training_iteration"): r for r in trial.history}
        for report in local.reports:
            it = report["training_iteration"]
            if not all(isinstance(report.get(m), float) for m in metrics):
                print(f"  iteration {it}: {report}")
                continue
            shown = []
            for metric in metrics:
                now, then = report[metric], recorded.get(it, {}).get(metric)
                same = "" if then is None else " (same)" if _same(now, then) else f" (recorded {then:.6g})"
                shown.append(f"{metric} {now:.6g}{same}")
            print(f"  iteration {it}: {', '.join(shown)}")
    return local


def _same(a, b) -> bool:
    return (
        isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    )
