"""Optuna's dashboard and plots on any experiment: an experiment exported as an Optuna study
(``raytune-hpo export DIR --optuna J``) or written live (``tracking={"optuna": ...}``), read back
with ``optuna.load_study``, drawn by ``optuna.visualization`` and served by a real
``optuna-dashboard``; the study holds the trials, values and states ``hpo.load`` does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest

import raytune_hpo as hpo
from raytune_hpo.tracking._optuna_study import export_study
from tests.helpers import start_tracked_script, wait_for_ended


def branchy(config):
    if config["boom"]:
        raise RuntimeError("this trial fails before its first report")
    scale = config["optimizer"]["lr"] if config["optimizer"]["name"] == "sgd" else config["optimizer"]["beta"]
    for t in range(1, 10):
        hpo.report(loss=config["x"] + scale / t + 0.01 * config["n"], size=float(sum(config["layers"])))


SPACE = {
    "x": hpo.uniform(0, 1),
    "optimizer": hpo.choice([
        {"name": "sgd", "lr": hpo.loguniform(1e-3, 1.0)},
        {"name": "adam", "beta": hpo.quniform(0.5, 0.9, 0.1)},
    ]),
    "layers": hpo.choice([[8, 8], [16]]),
    "n": hpo.randint(1, 5),
    "boom": hpo.grid([False, True]),
    "epochs": 9,
}


def storage_of(path: str):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


def expected_params(config: dict) -> dict:
    """The Optuna parameters of a configuration of SPACE, written out by hand."""
    opt = config["optimizer"]
    params = {"x": config["x"], "optimizer": f"name={opt['name']}", "layers": str(config["layers"]),
              "n": config["n"], "boom": config["boom"]}
    params.update({"optimizer[0].lr": opt["lr"]} if opt["name"] == "sgd" else {"optimizer[1].beta": opt["beta"]})
    return params


def expected_state(trial, max_t: int = 9) -> str:
    if trial.status == "ERROR":
        return "FAIL"
    return "COMPLETE" if trial.iterations >= max_t else "PRUNED"


def check_study_is_the_experiment(study, res) -> None:
    by_id = {t.user_attrs["raytune_hpo.trial_id"]: t for t in study.trials}
    assert list(by_id) == [t.trial_id for t in res.trials]  # each once, in the order they started
    for trial in res.trials:
        frozen = by_id[trial.trial_id]
        assert frozen.state.name == expected_state(trial), trial.trial_id
        assert frozen.params == expected_params(trial.config)
        assert frozen.user_attrs["config"] == trial.config
        if trial.status == "ERROR":
            assert frozen.value is None and frozen.intermediate_values == {}
            continue
        assert frozen.value == trial.best_value("loss", "min")
        assert frozen.intermediate_values == {r["training_iteration"]: r["loss"] for r in trial.history}
        assert frozen.datetime_start < frozen.datetime_complete
    assert study.best_trial.user_attrs["raytune_hpo.trial_id"] == res.best_trial.trial_id
    states = {t.state.name for t in study.trials}
    assert states == {"COMPLETE", "PRUNED", "FAIL"}, "the experiment should hold trials of each state"


@pytest.fixture(scope="module")
def asha_experiment(ray_cluster, tmp_path_factory):
    """A conditional space under ASHA, a trial in two failing, followed live into an Optuna journal."""
    folder = tmp_path_factory.mktemp("optuna")
    live = str(folder / "live.log")
    res = hpo.run(branchy, SPACE, metric="loss", mode="min", searcher="random", scheduler="asha", num_samples=5,
                  max_t=9, storage=str(folder / "runs"), name="branchy", seed=3, verbose=0,
                  tracking={"optuna": {"journal": live}})
    return res, live, folder


def test_exported_study_holds_the_trials_values_and_states_of_the_experiment(asha_experiment):
    res, _, folder = asha_experiment
    journal = folder / "export.log"
    done = subprocess.run([sys.executable, "-m", "raytune_hpo", "export", res.path, "--optuna", str(journal)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(journal) and done.stderr == ""
    study = optuna.load_study(study_name="branchy", storage=storage_of(str(journal)))
    check_study_is_the_experiment(study, res)
    assert study.metric_names == ["loss"] and study.direction.name == "MINIMIZE"
    assert study.user_attrs == {"raytune_hpo.searcher": "random", "raytune_hpo.scheduler": "asha",
                                "raytune_hpo.experiment": res.path}
    # The distributions are the space's: a branch's parameters only where its option was drawn.
    lrs = [t.distributions["optimizer[0].lr"] for t in study.trials if "optimizer[0].lr" in t.params]
    assert lrs and all(d.low == 1e-3 and d.high == 1.0 and d.log for d in lrs)
    assert study.trials[0].distributions["layers"].choices == ("[8, 8]", "[16]")

    # Exported again under another name, beside it: the first study is left as it was.
    subprocess.run([sys.executable, "-m", "raytune_hpo", "export", res.path, "--optuna", str(journal),
                    "--study", "again"], check=True, capture_output=True, timeout=120)
    names = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage_of(str(journal)))}
    assert names == {"branchy": len(res.trials), "again": len(res.trials)}


def test_optuna_plots_draw_the_exported_study(asha_experiment):
    import optuna.visualization as vis

    res, _, folder = asha_experiment
    study = optuna.load_study(study_name="branchy", storage=storage_of(export_study(res, str(folder / "plots.log"))))
    for plot in (vis.plot_contour, vis.plot_slice, vis.plot_edf, vis.plot_timeline, vis.plot_intermediate_values,
                 vis.plot_optimization_history, vis.plot_param_importances, vis.plot_parallel_coordinate):
        figure = plot(study)
        assert figure.data, f"{plot.__name__} drew nothing"
    timeline = vis.plot_timeline(study)
    assert {bar.name for bar in timeline.data} == {"COMPLETE", "PRUNED", "FAIL"}


def test_live_study_is_the_export_of_the_finished_experiment(asha_experiment):
    res, live, _ = asha_experiment
    study = optuna.load_study(study_name="branchy", storage=storage_of(live))
    check_study_is_the_experiment(study, res)


def test_several_objectives_and_constraints_give_the_pareto_front(ray_cluster, storage, tmp_path):
    def two(config):
        for t in range(1, 4):
            hpo.report(loss=config["x"] / t, size=1 - config["x"] + config["y"], mem=config["y"] * 10)

    res = hpo.run(two, {"x": hpo.uniform(0, 1), "y": hpo.uniform(0, 1)}, metric=["loss", "size"],
                  mode=["min", "min"], constraints={"mem": ("<=", 5)}, num_samples=10, storage=storage,
                  name="two", seed=0, verbose=0)
    study = optuna.load_study(study_name="two", storage=storage_of(export_study(res, str(tmp_path / "two.log"))))
    assert study.metric_names == ["loss", "size"] and [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    by_id = {t.user_attrs["raytune_hpo.trial_id"]: t for t in study.trials}
    for trial in res.trials:
        last = trial.history[-1]
        assert by_id[trial.trial_id].values == [last["loss"], last["size"]]
        assert by_id[trial.trial_id].constraints == {"mem": max(r["mem"] for r in trial.history) - 5}
        assert by_id[trial.trial_id].intermediate_values == {}
    front = {t.user_attrs["raytune_hpo.trial_id"] for t in study.best_trials}
    assert front == set(res.pareto_front()["trial_id"])
    import optuna.visualization as vis

    assert vis.plot_pareto_front(study, constraints_func=None).data


def test_a_resumed_trial_goes_on_in_the_same_optuna_trial(ray_cluster, storage, tmp_path):
    journal = str(tmp_path / "live.log")
    path = os.path.join(storage, "resumed")
    driver = start_tracked_script(tmp_path, storage, "resumed", 6, {"optuna": {"journal": journal}}, ray_cluster)
    wait_for_ended(path, 2)
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=120) == 130
    before = optuna.load_study(study_name="resumed", storage=storage_of(journal))
    running = {t.user_attrs["raytune_hpo.trial_id"] for t in before.trials if t.state.name == "RUNNING"}
    assert running, "no trial was running when the experiment was interrupted"

    res = hpo.resume(path, verbose=0)
    study = optuna.load_study(study_name="resumed", storage=storage_of(journal))
    ids = [t.user_attrs["raytune_hpo.trial_id"] for t in study.trials]
    assert sorted(ids) == sorted(t.trial_id for t in res.trials), "a resumed trial became a second Optuna trial"
    by_id = dict(zip(ids, study.trials))
    for trial in res.trials:
        assert by_id[trial.trial_id].state.name == "COMPLETE"
        assert by_id[trial.trial_id].intermediate_values == {1: trial.history[0]["loss"], 2: trial.history[1]["loss"],
                                                             3: trial.history[2]["loss"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_optuna_dashboard_serves_the_exported_study(asha_experiment):
    res, _, folder = asha_experiment
    journal = export_study(res, str(folder / "dashboard.log"))
    port = free_port()
    dashboard = os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")  # the dashboard extra's command
    server = subprocess.Popen([dashboard, journal, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, studies = time.time() + 60, None
        while time.time() < deadline and studies is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as answer:
                    studies = json.load(answer)["study_summaries"]
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.3)
        assert studies is not None, "optuna-dashboard did not answer"
        (summary,) = studies
        assert summary["study_name"] == "branchy"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}",
                                    timeout=10) as answer:
            detail = json.load(answer)
        served = {t["number"]: t["state"] for t in detail["trials"]}
        assert sorted(served) == list(range(len(res.trials)))
        assert sorted(set(served.values())) == ["Complete", "Fail", "Pruned"]
        assert [t["intermediate_values"] for t in detail["trials"] if t["state"] == "Complete"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_configuration_the_space_cannot_map_whole_gives_its_parameters_one_by_one():
    """A trial whose configuration misses a parameter (an older conditional experiment read
    through an inferred space, say): each parameter it has is still an Optuna parameter, a
    grid's and a choice's value by its label."""
    from raytune_hpo.space import Space
    from raytune_hpo.tracking._optuna_study import StudyParams

    params = StudyParams(Space({"seed": hpo.grid([0, 7]), "act": hpo.choice(["relu", [8, 8]]),
                                "lr": hpo.loguniform(1e-3, 1.0), "gone": hpo.uniform(0, 1)}))
    assert params.of({"seed": 7, "act": [8, 8], "lr": 0.01}) == {"seed": 7, "act": "[8, 8]", "lr": 0.01}
    assert params.of({"seed": 3, "act": "tanh", "lr": 5.0}) == {}  # none of them the space's
