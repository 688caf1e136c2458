"""The experiment's own record, written as it runs: each trial's ``params.json`` and
``result.json`` (one JSON line per report), and the journal's ``start`` and ``end`` events
(:mod:`raytune_hpo.directory`), straight into the experiment's storage.

Ray's own JSON logger writes into a staging directory that is copied to storage now and
then, and when a trial restarts from a checkpoint (a retry, a resume, every PBT exploit) it
first copies the storage file back over the staging one. That copy is often older than the
staging file, so the reports in between were lost: under PBT, trials kept 6 of their 20
reports. Appending in place loses nothing; a restarted trial's rows follow the earlier ones
(``iterations_since_restore`` starts again at 1 there).

The work per event is constant: a line appended; what the journal's ``end`` event says of a
trial is followed report by report (:class:`~raytune_hpo.directory.EndSummary`), and forgotten
when the trial ends. A trial restarted in a later session picks it up from its
``result.json``, once.
"""

from __future__ import annotations

from ray.tune import Callback

from raytune_hpo._objectives import Objectives
from raytune_hpo.directory import EndSummary, Journal, ResultFile, read_results, write_params


class _Running:
    """A trial this process has seen start or report, until it ends."""

    def __init__(self, trial, summary: EndSummary):
        self.trial, self.summary = trial, summary
        self.file: ResultFile | None = None


class ExperimentLog(Callback):
    """Writes each trial's files and its journal events; ``objectives`` are the experiment's,
    followed for the ``end`` event. ``unfinished``, once the experiment
    ended: the trials that started and did not end (it was interrupted)."""

    def __init__(self, journal: Journal, objectives: Objectives) -> None:
        self.journal, self.objectives = journal, objectives
        self.unfinished = 0
        self._running: dict[str, _Running] = {}

    def __getstate__(self) -> dict:  # pickled with the Tuner: open files stay behind
        return {**self.__dict__, "_running": {}}

    def _follow(self, trial) -> _Running:
        running = self._running.get(trial.trial_id)
        if running is None:  # first seen by this process: it may have reports of another session
            running = self._running[trial.trial_id] = _Running(trial, EndSummary(self.objectives))
            for report in read_results(trial.storage.trial_fs_path):
                running.summary.add(report)
        return running

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._follow(trial)
        write_params(trial.storage.trial_fs_path, trial.config)
        self.journal.write("start", trial=trial.trial_id, name=trial.storage.trial_dir_name, config=trial.config)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        running = self._follow(trial)
        if running.file is None:
            running.file = ResultFile(trial.storage.trial_fs_path)
        running.file.append(result)
        running.summary.add(result)

    def _end(self, trial, status: str) -> None:
        running = self._follow(trial)
        del self._running[trial.trial_id]
        if running.file is not None:
            running.file.close()
        self.journal.write(
            "end",
            trial=trial.trial_id,
            status=status,
            **running.summary.fields(),
            failures=getattr(getattr(trial, "run_metadata", None), "num_failures", 0),
        )

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._end(trial, "TERMINATED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._end(trial, "ERROR")

    def on_step_end(self, iteration, trials, **info) -> None:
        # Trials ended with the experiment (its time or iteration budget spent) get no callback.
        # (Those Ray stops once the experiment was interrupted are ended after the last step:
        # they stay unfinished.)
        for running in [r for r in self._running.values() if r.trial.is_finished()]:
            self._end(running.trial, running.trial.status)

    def on_experiment_end(self, trials, **info) -> None:
        # Ray ends the trials of an interrupted experiment after its last step, without a
        # callback: they stay unfinished in the journal, for resume.
        self.unfinished = len(self._running)
        for running in self._running.values():
            if running.file is not None:
                running.file.close()
        self._running.clear()
