"""The lineage of a population-based training run: which trial copied which, at which
iteration, and how the copied hyperparameters were explored.

Ray's ``PopulationBasedTraining`` appends one JSON line per exploit to ``pbt_global.txt`` in
the experiment's driver directory, which Ray copies into the experiment directory with its
state (no exploit, no file): ``[receiver's tag, donor's tag, receiver's iteration, donor's
iteration, donor's config, explored config]``. Tags start with the trial's number
(``3_lr=0.01``), which also names its directory (``trial_00003_<id>``).

Its iterations are not those of the handover: the receiver's is that of the report before the
one that made it copy (Ray's scheduler sees a report before the trial records it), the donor's
that of its latest report, while PBT hands over the checkpoint saved at the donor's last
perturbation. So both are read from the receiver's history: the first report it made with the
explored configuration after a restart continues from the checkpoint (its iteration is the
checkpoint's plus one), and the report before that one is where it copied.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from raytune_hpo.results import Results, Trial
from raytune_hpo.space import display, flatten

EXPLOITS_FILE = "pbt_global.txt"


@dataclass(frozen=True)
class Exploit:
    receiver: str  # the id of the trial that copied
    donor: str  # the id of the trial copied
    iteration: int  # the receiver's iteration when it copied
    donor_iteration: int  # the iteration of the donor's checkpoint it continued from
    changes: dict[str, tuple[Any, Any]]  # dotted name -> (donor's value, explored value)


def exploits(results: Results) -> list[Exploit]:
    """Every exploit of the experiment, in the order they happened."""
    try:
        with open(os.path.join(results.path, EXPLOITS_FILE)) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return []
    trials = {_number(t.name): t for t in results.trials}
    searched_to: dict[str, int] = {}  # receiver -> where its next exploit's reports start
    found = []
    for line in lines:
        try:
            receiver_tag, donor_tag, logged_iteration, logged_donor_iteration, old, new = json.loads(line)
        except ValueError:  # a line cut by a crash mid-write
            continue
        receiver, donor = trials.get(_number(receiver_tag)), trials.get(_number(donor_tag))
        receiver_id = receiver.trial_id if receiver else receiver_tag
        iteration, donor_iteration = logged_iteration + 1, logged_donor_iteration
        handover = _handover(receiver, new, searched_to.get(receiver_id, 1)) if receiver else None
        if receiver and handover is not None:  # else the receiver reported nothing after it: Ray's numbers
            searched_to[receiver_id] = handover + 1
            iteration = receiver.history[handover - 1].get("training_iteration", iteration)
            donor_iteration = receiver.history[handover].get("training_iteration", donor_iteration + 1) - 1
        old, new = flatten(old), flatten(new)
        found.append(
            Exploit(
                receiver=receiver_id,
                donor=donor.trial_id if donor else donor_tag,
                iteration=int(iteration),
                donor_iteration=int(donor_iteration),
                changes={display(k): (old.get(k), v) for k, v in new.items() if old.get(k) != v},
            )
        )
    return found


def _handover(receiver: Trial, config: dict, start: int) -> int | None:
    """The index of the receiver's first report, from ``start``, made with ``config`` just
    after a restart: the first from the copied checkpoint."""
    for i in range(max(start, 1), len(receiver.history)):
        report = receiver.history[i]
        if report.get("iterations_since_restore") == 1 and report.get("config") == config:
            return i
    return None


def _number(name: str) -> int | None:
    """The trial's number from its tag (``3_lr=...``) or its name (``trial_00003_...``)."""
    match = re.match(r"(?:trial_)?(\d+)_", name)
    return int(match.group(1)) if match else None
