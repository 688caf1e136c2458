"""``iteration_budget``: an experiment stopped once its trials have run so many iterations in
all, the budget HPO papers count (a rung's trials and a full trial cost what they train)."""

from __future__ import annotations

from ray.tune.stopper import Stopper


class IterationBudget(Stopper):
    """Ends every trial once ``budget`` reports have arrived, each report being one iteration
    of one trial. Trials running when the budget is spent may each report once more before
    they are stopped. It stops no single trial (``max_t`` is the ``Guard``'s)."""

    def __init__(self, budget: int):
        self.budget = budget
        self.used = 0

    def __call__(self, trial_id: str, result: dict) -> bool:
        self.used += 1
        return False

    def stop_all(self) -> bool:
        return self.used >= self.budget
