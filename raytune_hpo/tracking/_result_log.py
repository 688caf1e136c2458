"""Each trial's ``params.json`` and ``result.json`` (one JSON line per report), appended
straight into the trial's directory in the experiment's storage.

Ray's own JSON logger writes into a staging directory that is copied to storage now and
then, and when a trial restarts from a checkpoint (a retry, a resume, every PBT exploit) it
first copies the storage file back over the staging one. That copy is often older than the
staging file, so the reports in between were lost: under PBT, trials kept 6 of their 20
reports. Appending in place loses nothing; a restarted trial's rows follow the earlier ones
(``iterations_since_restore`` starts again at 1 there).
"""

from __future__ import annotations

import json
import os
from typing import IO

from ray.tune import Callback
from ray.tune.utils.util import SafeFallbackEncoder

RESULT_FILE = "result.json"
PARAMS_FILE = "params.json"


def _cut_short(path: str) -> bool:
    """Whether the file's last line lacks its newline: a write cut short by a crash."""
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:  # no file, or an empty one
        return False


class ResultLog(Callback):
    def __init__(self) -> None:
        self._files: dict[str, IO[str]] = {}

    def __getstate__(self) -> dict:  # pickled with the Tuner: open files stay behind
        return {"_files": {}}

    @staticmethod
    def _directory(trial) -> str:
        return trial.storage.trial_fs_path

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        directory = self._directory(trial)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, PARAMS_FILE), "w") as f:
            json.dump(trial.config, f, indent=2, sort_keys=True, cls=SafeFallbackEncoder)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        file = self._files.get(trial.trial_id)
        if file is None:
            directory = self._directory(trial)
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, RESULT_FILE)
            cut = _cut_short(path)
            file = self._files[trial.trial_id] = open(path, "a")
            if cut:  # end the line a crash cut short, or the next report would be lost with it
                file.write("\n")
        file.write(json.dumps(result, cls=SafeFallbackEncoder) + "\n")
        file.flush()

    def _close(self, trial) -> None:
        file = self._files.pop(trial.trial_id, None)
        if file is not None:
            file.close()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._close(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._close(trial)

    def on_experiment_end(self, trials, **info) -> None:
        for file in self._files.values():
            file.close()
        self._files.clear()
