"""Several objectives and constraints end to end, with real Ray: the front and the feasible
trials against brute force, what refuses a single best, the CLI, the experiment file,
TensorBoard, export, and resume after the driver was killed."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

import raytune_hpo as hpo
from raytune_hpo._objectives import dominates, hypervolume
from raytune_hpo.cli import main
from tests.helpers import KILLED_SCRIPT, cli, kill_driver_after, start_killed_script, write

SPACE = {"x": hpo.uniform(0.0, 1.0), "y": hpo.uniform(0.0, 1.0), "epochs": 2}


def two_objectives(config: dict) -> None:
    """``error`` falls with the epochs, ``size`` is fixed; ``mem`` peaks at the first epoch."""
    for t in range(1, config["epochs"] + 1):
        hpo.report(error=config["x"] + 1 / t, size=1 - config["x"] * config["y"], mem=config["y"] * (3 - t))


@pytest.fixture(scope="module")
def several(ray_cluster, tmp_path_factory):
    storage = str(tmp_path_factory.mktemp("several") / "runs")
    return hpo.run(two_objectives, SPACE, metric=["error", "size"], mode=["min", "min"],
                   constraints={"mem": ("<=", 1.2)}, num_samples=16, seed=0, storage=storage,
                   name="mo", verbose=0)


def last_reports(results) -> dict[str, dict]:
    return {t.trial_id: t.history[-1] for t in results.trials}


def brute_force_front(results, bound: float = 1.2) -> set[str]:
    """Feasible (no report with mem > bound), then not dominated by another feasible trial's last report."""
    feasible = {t.trial_id: (t.history[-1]["error"], t.history[-1]["size"])
                for t in results.trials if all(r["mem"] <= bound for r in t.history)}
    return {i for i, v in feasible.items() if not any(dominates(w, v) for w in feasible.values())}


def test_the_front_is_exactly_the_non_dominated_feasible_trials(several):
    front = several.pareto_front()
    expected = brute_force_front(several)
    assert 2 <= len(expected) < 16  # the case tests something
    assert set(front["trial_id"]) == expected
    last = last_reports(several)
    for row in front.to_dict("records"):  # each trial by its last report
        assert (row["error"], row["size"], row["mem"]) == tuple(last[row["trial_id"]][m] for m in ("error", "size", "mem"))
        assert row["iterations"] == 2 and "config.x" in row
    assert list(front["error"]) == sorted(front["error"])


def test_a_trial_whose_first_report_violated_is_infeasible_though_its_last_does_not(several):
    frame = several.dataframe()
    by_id = {t.trial_id: t for t in several.trials}
    once = [i for i, t in by_id.items() if t.history[0]["mem"] > 1.2 >= t.history[-1]["mem"]]
    assert once, "no trial violated the constraint at its first report only"
    feasible = dict(zip(frame["trial_id"], frame["feasible"]))
    for trial_id, trial in by_id.items():
        assert feasible[trial_id] == all(r["mem"] <= 1.2 for r in trial.history)
    assert not set(once) & set(several.pareto_front()["trial_id"])


def test_the_dataframe_marks_the_front_and_lists_it_first(several):
    frame = several.dataframe()
    expected = brute_force_front(several)
    assert set(frame.loc[frame["pareto"], "trial_id"]) == expected
    assert list(frame["pareto"][: len(expected)]) == [True] * len(expected)
    assert {"last.error", "last.size", "last.mem", "feasible", "pareto"} <= set(frame.columns)
    assert not any(c.startswith("best.") for c in frame.columns)
    # infeasible trials after every feasible one
    assert list(frame["feasible"]) == sorted(frame["feasible"], reverse=True)


def test_the_hypervolume_is_that_of_the_front_against_the_reference(several):
    front = several.pareto_front()
    points = sorted(zip(front["error"], front["size"]))
    by_hand, previous = 0.0, 1.5  # the staircase, reference (3, 1.5)
    for error, size in points:
        by_hand += (3 - error) * (previous - size)
        previous = size
    assert several.hypervolume([3, 1.5]) == pytest.approx(by_hand)
    assert several.hypervolume((3.0, 1.5)) == pytest.approx(hypervolume(list(points), (3, 1.5)))


@pytest.mark.parametrize("what", ["best_config", "best_metrics", "best_checkpoint", "best_trial"])
def test_a_single_best_is_refused_in_one_line_pointing_at_the_front(several, what):
    with pytest.raises(hpo.ConfigError) as e:
        getattr(several, what)
    assert str(e.value) == (
        f"{what}: this experiment has 2 objectives (error, size), so no single best; use res.pareto_front() "
        "(and res.hypervolume(reference))"
    )


def test_a_reference_of_the_wrong_length_is_refused(several):
    with pytest.raises(hpo.ConfigError, match=r"^reference: give one finite number per objective \(error, size\), got \[1\]$"):
        several.hypervolume([1])


def test_load_reads_the_same_front_and_the_meta_keeps_the_lists(several):
    again = hpo.load(several.path)
    assert again.metric == ["error", "size"] and again.mode == ["min", "min"]
    assert again.meta["constraints"] == {"mem": ["<=", 1.2]}
    with open(os.path.join(several.path, "manifest.json")) as f:
        assert json.load(f)["objectives"] == {"metric": ["error", "size"], "mode": ["min", "min"],
                                              "constraints": {"mem": ["<=", 1.2]}}
    pd.testing.assert_frame_equal(again.pareto_front(), several.pareto_front())
    assert "a front of" in repr(again)


def test_show_prints_the_front_and_export_has_the_columns(several, capsys):
    assert main(["show", several.path]) == 0
    shown = capsys.readouterr().out
    assert "Pareto front (error (min), size (min); mem <= 1.2)" in shown
    for name in several.pareto_front()["name"]:
        assert f"  {name}: error " in shown
    assert main(["export", several.path]) == 0
    table = pd.read_csv(os.path.join(several.path, "run_table.csv"))
    assert {"pareto", "feasible", "last.error", "last.size"} <= set(table.columns)
    assert set(table.loc[table["pareto"], "trial_id"]) == brute_force_front(several)


def test_tensorboard_hparams_declare_every_objective_and_the_constrained_metric(several):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    events = EventAccumulator(several.trials[0].path)
    events.Reload()
    data = events.PluginTagToContent("hparams")[metadata.EXPERIMENT_TAG]
    declared = [m.name.tag for m in metadata.parse_experiment_plugin_data(data).metric_infos]
    assert declared[:3] == ["error", "size", "mem"]


def test_one_objective_gives_its_best_trial_as_the_front(ray_cluster, storage):
    res = hpo.run(two_objectives, SPACE, metric="error", constraints={"mem": ("<=", 1.2)}, num_samples=6,
                  seed=1, storage=storage, name="one", verbose=0)
    front = res.pareto_front()
    assert list(front["trial_id"]) == [res.best_trial.trial_id]
    assert front["error"][0] == res.best_metrics["error"]
    assert all(r["mem"] <= 1.2 for r in res.best_trial.history)  # never an infeasible best


TRAINABLE = '''
import raytune_hpo as hpo

def train(config):
    for t in range(1, 3):
        hpo.report(error=config["x"] + 1 / t, size=1 - config["x"] * config["y"], mem=config["y"])
'''


def test_an_experiment_file_and_set_take_lists_and_constraints(ray_cluster, tmp_path):
    (tmp_path / "mo.py").write_text(TRAINABLE)
    path = write(tmp_path, {
        "name": "mo-file", "trainable": "mo:train", "metric": ["error", "size"], "mode": ["min", "min"],
        "constraints": {"mem": ["<=", 0.8]}, "num_samples": 4, "seed": 0, "storage": "runs",
        "space": {"x": {"uniform": [0, 1]}, "y": {"uniform": [0, 1]}},
    })
    shown = cli("run", path, "--dry-run", "--set", "scheduler={name: asha, max_t: 9}", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "objectives: error (min), size (min); mem <= 0.8\nASHA rungs at iterations 1, 3" in shown.stdout
    assert "each rung ranks its trials by non-dominated sorting, infeasible ones last" in shown.stdout
    done = cli("run", path, "--set", "mode=[min, max]", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Pareto front (error (min), size (max); mem <= 0.8)" in done.stdout
    results = hpo.load(str(tmp_path / "runs" / "mo-file"))
    assert results.mode == ["min", "max"] and results.objectives.constraints[0].bound == 0.8
    with open(os.path.join(results.path, "hpo.json")) as f:
        assert json.load(f)["metric"] == ["error", "size"]
    again = cli("rerun", results.path, "1", cwd=tmp_path)  # every objective compared, per iteration
    assert again.returncode == 0 and again.stdout.count("(same)") == 4, again.stdout
    assert "  iteration 2: error " in again.stdout and ", size " in again.stdout


# The killed driver of tests.helpers, with two objectives and a constraint.
KILLED_MO = KILLED_SCRIPT.replace(
    'hpo.report(loss=config["x"] + 1 / (epoch + 1), ',
    'hpo.report(error=config["x"] + 1 / (epoch + 1), size=1 - config["x"], mem=config["x"], ',
).replace('metric="loss", ', 'metric=["error", "size"], mode=["min", "min"], constraints={"mem": ("<=", 0.9)}, ')
assert KILLED_MO.count("error") == 2


def test_resume_after_the_driver_was_killed_keeps_the_front(ray_cluster, storage, tmp_path):
    path = os.path.join(storage, "killed")
    ledger = tmp_path / "ledger"
    driver = start_killed_script(tmp_path, storage, ledger, ray_cluster, trials=8, at_once=2, script=KILLED_MO)
    finished = {t.trial_id: t.history for t in kill_driver_after(driver, path, 3)}
    assert 3 <= len(finished) < 8, "the driver was not killed mid-experiment"
    res = hpo.resume(path, verbose=0)
    assert len(res.trials) == 8 and all(t.status == "TERMINATED" for t in res.trials)
    for trial_id, history in finished.items():  # finished trials kept as they were
        assert next(t for t in res.trials if t.trial_id == trial_id).history == history
    assert set(res.pareto_front()["trial_id"]) == brute_force_front(res, 0.9)
    for trial_id in res.pareto_front()["trial_id"]:  # the checkpoint of the last report, kept
        assert res.checkpoint_of(trial_id) == {"epoch": 3}
    ended = [json.loads(line) for line in open(os.path.join(path, "trials.jsonl")) if '"end"' in line]
    assert all(set(e["last"]) == {"error", "size", "mem"} and "violation" in e for e in ended)



def test_the_progress_line_counts_the_front(ray_cluster, storage, capsys):
    res = hpo.run(two_objectives, SPACE, metric=["error", "size"], mode=["min", "min"],
                  constraints={"mem": ("<=", 1.2)}, num_samples=6, seed=2, storage=storage, name="shown", verbose=1)
    last_line = [line for line in capsys.readouterr().out.splitlines() if "trials" in line and "running" in line][-1]
    assert last_line.endswith(f"| Pareto front of {len(res.pareto_front())} trials (error, size)")
