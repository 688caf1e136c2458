"""The experiment directory's files, each through its one writer and its one reader: the
journal (events, the last word on each trial, a line cut by a crash), result files, files
replaced whole, and hpo.json's format."""

from __future__ import annotations

import json
import os

import pytest

import raytune_hpo as hpo
from raytune_hpo._objectives import Objectives
from raytune_hpo.directory import (
    JOURNAL_FILE,
    EndSummary,
    Journal,
    ResultFile,
    read_journal,
    read_meta,
    read_results,
    replace_file,
    write_meta,
)

META = {"name": "exp", "metric": "loss", "mode": "min", "seed": 0, "resources": {"cpu": 1}}


def test_the_journal_tells_each_trial_by_its_last_event(tmp_path):
    journal = Journal(str(tmp_path))
    journal.write("session", kind="run", host="h", pid=1)
    journal.write("start", trial="a", name="trial_00001_a", config={"x": 1})
    journal.write("start", trial="b", name="trial_00002_b", config={"x": 2})
    journal.write("end", trial="a", status="TERMINATED", reports=3, iterations=3, best=[1, 0.5],
                  non_finite=None, failures=0)
    journal.write("start", trial="c", name="trial_00003_c", config={"x": 3})
    journal.write("drop", trial="c")
    journal.write("end", trial="b", status="ERROR", reports=1, iterations=1, best=None, non_finite=None, failures=2)
    journal.write("start", trial="b", name="trial_00002_b", config={"x": 2})  # retried on resume
    journal.write("stop", reason="interrupted", signal="SIGINT")
    journal.close()

    read = read_journal(str(tmp_path))
    assert list(read.trials) == ["a", "b"] and list(read.dropped) == ["c"]
    a, b = read.trials["a"], read.trials["b"]
    assert (a.status, a.reports, a.iterations, a.best, a.starts, a.ends) == ("TERMINATED", 3, 3, (1, 0.5), 1, 1)
    assert (b.status, b.starts, b.ends, b.failures, b.config) == ("RUNNING", 2, 1, 2, {"x": 2})
    assert read.sessions[0]["kind"] == "run" and read.stop == {"event": "stop", "time": read.stop["time"],
                                                                "reason": "interrupted", "signal": "SIGINT"}


def test_a_journal_line_cut_by_a_crash_is_skipped_and_ended_by_the_next_writer(tmp_path):
    journal = Journal(str(tmp_path))
    journal.write("start", trial="a", name="trial_00001_a", config={})
    journal.close()
    with open(tmp_path / JOURNAL_FILE, "a") as f:
        f.write('{"event": "end", "trial": "a", "sta')  # the driver died mid-line
    assert read_journal(str(tmp_path)).trials["a"].status == "RUNNING"

    again = Journal(str(tmp_path))
    again.write("end", trial="a", status="TERMINATED", reports=1, iterations=1, best=None, non_finite=None)
    again.close()
    assert read_journal(str(tmp_path)).trials["a"].status == "TERMINATED"
    assert (tmp_path / JOURNAL_FILE).read_text().count("\n") == 3


def test_journal_lines_hold_numpy_values_and_nan(tmp_path):
    numpy = pytest.importorskip("numpy")
    journal = Journal(str(tmp_path))
    journal.write("start", trial="a", name="n", config={"k": numpy.int64(3), "v": numpy.array([1.5]), "o": object})
    journal.write("end", trial="a", status="TERMINATED", reports=1, iterations=1, best=[0, float("nan")],
                  non_finite="loss was nan at iteration 1")
    journal.close()
    trial = read_journal(str(tmp_path)).trials["a"]
    assert trial.config == {"k": 3, "v": [1.5], "o": str(object)} and trial.non_finite.startswith("loss was nan")


def test_the_end_summary_follows_the_best_report_and_the_first_non_finite_one():
    summary = EndSummary(Objectives.of("loss", "min"))
    for value in (3.0, 1.0, float("nan"), 2.0, float("-inf"), 0.5):
        summary.add({"loss": value, "training_iteration": summary.reports + 1})
    assert summary.fields() == {"reports": 6, "iterations": 6, "best": (5, 0.5), "non_finite": "loss was nan at iteration 3"}
    maximise = EndSummary(Objectives.of("acc", "max"))
    for value in (0.2, 0.9, 0.4):
        maximise.add({"acc": value})
    assert maximise.best == (1, 0.9)


def test_the_end_summary_of_several_objectives_keeps_the_last_report_and_the_largest_violation():
    summary = EndSummary(Objectives.of(["loss", "ms"], ["min", "min"], {"mem": ("<=", 4)}))
    for loss, ms, mem in ((3.0, 9.0, 5.0), (1.0, float("inf"), 3.0), (0.5, 7.0, 2.0)):
        summary.add({"loss": loss, "ms": ms, "mem": mem, "training_iteration": summary.reports + 1})
    fields = summary.fields()
    assert fields["best"] == (2, 0.5) and fields["non_finite"] == "ms was inf at iteration 2"
    assert fields["last"] == {"loss": 0.5, "ms": 7.0, "mem": 2.0} and fields["violation"] == 1.0


def test_result_files_are_appended_and_read_back_a_cut_line_skipped(tmp_path):
    results = ResultFile(str(tmp_path))
    results.append({"loss": 1.0, "training_iteration": 1})
    results.close()
    with open(tmp_path / "result.json", "a") as f:
        f.write('{"loss": 0.9, "train')
    more = ResultFile(str(tmp_path))
    more.append({"loss": 0.5, "training_iteration": 2})
    more.close()
    assert read_results(str(tmp_path)) == [{"loss": 1.0, "training_iteration": 1}, {"loss": 0.5, "training_iteration": 2}]
    assert read_results(str(tmp_path / "nowhere")) == []


def test_a_replaced_file_is_a_new_file_never_the_old_one_rewritten(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    with open(path) as reader:  # a reader of the old file keeps the old file whole
        replace_file(str(path), b"new, and longer")
        assert reader.read() == "old"
    assert path.read_text() == "new, and longer" and os.listdir(tmp_path) == ["state.json"]


def test_hpo_json_carries_its_format_and_an_older_one_is_refused(tmp_path):
    write_meta(str(tmp_path), META)
    assert read_meta(str(tmp_path))["format"] == 2
    (tmp_path / "hpo.json").write_text(json.dumps({**META, "format": 1}))
    with pytest.raises(hpo.ConfigError, match="was written by raytune-hpo 0.1, before trials were journaled"):
        read_meta(str(tmp_path))
