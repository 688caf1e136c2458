"""Experiment files: every broken file gets one line naming the field, exit status 2, no
traceback, and earlier results stay untouched; --set and --dry-run; a whole run by command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import yaml

from raytune_hpo.config import load_experiment, parse_space
from raytune_hpo.errors import ConfigError
from raytune_hpo.space import Space
from tests.helpers import BOWL, GOOD_EXPERIMENT, cli, with_, write

GOOD = GOOD_EXPERIMENT


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "bowl.py").write_text(BOWL)
    return tmp_path


BROKEN = [
    (with_(num_samples="many"), "num_samples: must be a positive integer, got 'many'"),
    (with_(iteration_budget=-5), "iteration_budget: must be a positive integer, got -5"),
    (with_(scheduler={"name": "asha", "max_t": -3}), "scheduler.max_t: must be a positive integer, got -3"),
    (with_(serch="tpe"), "serch: unknown field; did you mean 'searcher'?"),
    (with_(scheduler={"name": "asha", "grace": 1}), "scheduler.grace: not an option of scheduler 'asha'"),
    (with_(trainable=None), "trainable: missing; every experiment file names its trainable, metric, space"),
    (with_(trainable="nowhere:train"), "trainable: cannot import 'nowhere' (ModuleNotFoundError: No module named 'nowhere')"),
    (with_(trainable="bowl:trian"), "trainable: module 'bowl' has no function 'trian'"),
    (with_(trainable="bowl.train"), "trainable: must be 'module:function'"),
    (with_(space={"x": {"uniform": [1, 0]}}), "space.x: low must be below high, got low=1 high=0"),
    (with_(space={"x": {"loguniform": [1]}}), "space.x.loguniform: takes [low, high], got [1]"),
    (with_(space={"x": {"loguniforn": [1, 2]}}), "space.x: unknown primitive 'loguniforn'; did you mean 'loguniform'?"),
    (with_(space={"x": {"choice": 3}}), "space.x.choice: takes a list of options, got 3"),
    (with_(space=[1, 2]), "space: must be a mapping of parameter names, got list"),
    (with_(space={"o": {"choice": [{"lr": {"uniform": [1, 0]}}, "off"]}}), "space.o[0].lr: low must be below high"),
    (with_(space={"o": {"choice": [{"lr": {"unifrom": [0, 1]}}]}}), "space.o[0].lr: unknown primitive 'unifrom'"),
    (with_(space={"w": [{"choice": [64]}, {"randint": [1]}]}), "space.w[1].randint: takes [low, high], got [1]"),
    (with_(space={"o": {"choice": [{"x": {"uniform": [0, 1]}}]}}, searcher="cmaes"),
     "space.o: a choice whose options hold parameters makes the space conditional, which searcher 'cmaes' "
     "cannot take; the searchers that can are random, grid, tpe, optuna, hyperopt, bohb, dehb, evolution, pso"),
    (with_(searcher="bohb"), "scheduler.name: searcher 'bohb' cannot run with scheduler 'asha'; it needs scheduler 'bohb' or 'hyperband'"),
    (with_(searcher={"name": "tpee"}), "searcher.name: unknown name 'tpee'; choose one of random, grid, tpe"),
    (with_(searcher={"n_initial_points": 3}), "searcher.name: missing"),
    (with_(mode="maximise"), "mode: must be 'min' or 'max', got 'maximise'"),
    (with_(resources={"cpu": -1}), "resources.cpu: must be a number >= 0, got -1"),
    ("name: [unclosed\n", "exp.yaml: not valid YAML (line 2, column 1: "),
    ("- a\n- b\n", "exp.yaml: must be a mapping of fields"),
]


@pytest.mark.parametrize(("data", "message"), BROKEN, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BROKEN)])
def test_broken_file_gets_one_line_and_exit_status_2(folder, data, message):
    done = cli("run", write(folder, data), "--dry-run", cwd=folder)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("raytune-hpo: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (folder / "runs").exists()


def test_unreadable_path(folder):
    done = cli("run", str(folder / "missing.yaml"), cwd=folder)
    assert done.returncode == 2
    assert done.stderr == f"raytune-hpo: error: {folder / 'missing.yaml'}: cannot be read (No such file or directory)\n"


def test_set_values_are_yaml_and_checked_like_the_file(folder):
    path = write(folder, GOOD)
    experiment = load_experiment(path, ["num_samples=7", "searcher.gamma=0.3", "space.opt.lr.loguniform=[1e-3, 1e-1]",
                                        "space.new.deep=abc"])
    r = experiment.resolved
    assert r["num_samples"] == 7 and r["searcher"]["gamma"] == 0.3
    assert r["space"]["opt"]["lr"] == {"loguniform": [1e-3, 1e-1]} and r["space"]["new"] == {"deep": "abc"}
    experiment = load_experiment(write(folder, with_(searcher="tpe"), "b.yaml"), ["searcher.n_initial_points=5"])
    assert experiment.resolved["searcher"] == {"name": "tpe", "n_initial_points": 5}
    with pytest.raises(ConfigError, match=r"--set: expected key.path=value, got 'num_samples'"):
        load_experiment(path, ["num_samples"])
    with pytest.raises(ConfigError, match=r"scheduler.max_t: must be a positive integer, got 0"):
        load_experiment(path, ["scheduler.max_t=0"]).plan(dry_run=True)


def test_space_syntax_matches_the_api():
    space = parse_space({"lr": {"qloguniform": [1e-4, 1e-1, 1e-4]}, "n": {"randint": [1, 5]},
                         "g": {"grid": [1, 2]}, "nested": {"act": {"choice": ["relu", None]}, "k": 3},
                         "plain": {"a": 1, "b": 2}, "list": [1, 2]})
    import raytune_hpo as hpo

    assert Space(space).params == Space({
        "lr": hpo.qloguniform(1e-4, 1e-1, 1e-4), "n": hpo.randint(1, 5), "g": hpo.grid([1, 2]),
        "nested": {"act": hpo.choice(["relu", None]), "k": 3}, "plain": {"a": 1, "b": 2}, "list": [1, 2],
    }).params
    assert space["plain"] == {"a": 1, "b": 2} and space["list"] == [1, 2]


CONDITIONAL_YAML = """
optimizer:
  choice:
    - {name: sgd, lr: {loguniform: [1.0e-3, 1.0e-1]}, momentum: {uniform: [0.5, 0.99]}}
    - {name: adam, lr: {loguniform: [1.0e-4, 1.0e-2]}, beta1: {uniform: [0.8, 0.99]}}
layers:
  choice:
    - {n: 2, width: [{choice: [64, 128]}, {choice: [64, 128]}]}
    - {n: 3, width: [{choice: [64, 128, 256]}, {choice: [64, 128, 256]}, {choice: [64, 128, 256]}]}
x: {uniform: [0, 1]}
epochs: 3
"""


def test_a_conditional_space_in_the_file_is_the_apis():
    from tests.test_space import CONDITIONAL

    space = Space(parse_space(yaml.safe_load(CONDITIONAL_YAML)))
    assert space.params == Space(CONDITIONAL).params and space.conditions == Space(CONDITIONAL).conditions
    assert space.spec["layers"].options[1]["n"] == 3 and space.spec["epochs"] == 3


def test_dry_run_shows_the_branches_of_a_conditional_space(folder):
    text = yaml.safe_dump(with_(space=None, searcher="tpe")) + "space:\n" + textwrap.indent(CONDITIONAL_YAML, "  ")
    done = cli("run", write(folder, text), "--dry-run", cwd=folder)  # the file's order, not sorted
    assert done.returncode == 0, done.stderr
    assert "space: 12 parameters in 4 branches (a trial draws one):" in done.stdout
    assert "  optimizer[0] layers[1]: optimizer[0].lr, optimizer[0].momentum, layers[1].width[0]" in done.stdout


def test_dry_run_prints_the_plan_and_starts_no_ray(folder):
    path = write(folder, with_(scheduler={"name": "hyperband", "max_t": 9}, searcher="random"))
    script = textwrap.dedent(f"""
        import ray
        from raytune_hpo.cli import main
        code = main(["run", {path!r}, "--dry-run"])
        print("ray started:", ray.is_initialized(), "exit:", code)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=folder)
    assert "ray started: False exit: 0" in done.stdout
    assert "budget: 4 trials x at most 9 iterations = 36 iterations at most" in done.stdout
    assert "Hyperband bracket s=2: trials x iterations 9 x 1 -> 3 x 3 -> 1 x 9" in done.stdout
    assert yaml.safe_load(done.stdout.split("budget:")[0])["scheduler"] == {"name": "hyperband", "max_t": 9}
    assert not (folder / "runs").exists()


def test_run_show_and_a_second_run_refused_without_damage(ray_cluster, folder):
    path = write(folder, GOOD)
    env = {"RAY_ADDRESS": ray_cluster}
    done = cli("run", path, cwd=folder, env=env)
    assert done.returncode == 0, done.stderr
    assert "4 trials, 0 errored; experiment in" in done.stdout
    # the progress line, at its last: counts, budget, the best so far with its configuration
    assert re.search(r"\] trials 0 running, 4 done \(\d stopped early\), 0 errored of 4 \| "
                     r"iterations \d+ of at most \d+, at most ~0m00s left \| best loss [\d.]+ \(trial_\d+_\w+\) \{", done.stdout), done.stdout
    exp = folder / "runs" / "exp"
    assert yaml.safe_load((exp / "experiment.yaml").read_text()) == GOOD
    manifest = json.loads((exp / "manifest.json").read_text())
    assert manifest["experiment"] == GOOD and manifest["seed"] == 0
    assert manifest["versions"]["ray"] and manifest["sessions"][0]["ended"]
    before = {p: os.path.getmtime(os.path.join(exp, p)) for p in os.listdir(exp)}

    again = cli("run", path, cwd=folder, env=env)
    assert again.returncode == 2 and "name: experiment" in again.stderr and "exists already" in again.stderr
    assert {p: os.path.getmtime(os.path.join(exp, p)) for p in os.listdir(exp)} == before

    shown = cli("show", str(exp), cwd=folder)
    assert shown.returncode == 0 and "trials: 4 terminated" in shown.stdout and "best loss (min):" in shown.stdout

    resumed = cli("resume", str(exp), "--quiet", cwd=folder, env=env)  # nothing left to run
    assert resumed.returncode == 0 and "4 trials, 0 errored" in resumed.stdout, resumed.stderr
    manifest = json.loads((exp / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2 and manifest["sessions"][1]["ended"]


def test_failed_trials_give_exit_status_1(ray_cluster, folder):
    path = write(folder, with_(space={**GOOD["space"], "fail": True}, name="failing"))
    done = cli("run", path, "--quiet", cwd=folder, env={"RAY_ADDRESS": ray_cluster})
    assert done.returncode == 1
    assert "4 trials, 4 errored" in done.stdout
    assert "ValueError: this trial fails on purpose" in done.stderr


def test_rerun_reproduces_a_deterministic_trial(ray_cluster, folder):
    from raytune_hpo.rerun import rerun

    path = write(folder, with_(name="again", scheduler={"name": "fifo"}, max_t=2, searcher="random"))
    done = cli("run", path, "--quiet", cwd=folder, env={"RAY_ADDRESS": ray_cluster})
    assert done.returncode == 0, done.stderr
    exp = str(folder / "runs" / "again")
    shown = cli("rerun", exp, "1", cwd=folder)
    assert shown.returncode == 0 and shown.stdout.count("(same)") == 2, shown.stdout
    from raytune_hpo.results import load

    trial = next(t for t in load(exp).trials if t.name.startswith("trial_00001_"))
    local = rerun(exp, trial.trial_id, print_reports=False)
    assert [r["loss"] for r in local.reports] == [r["loss"] for r in trial.history]
    assert len(local.reports) == 2  # max_t
    missing = cli("rerun", exp, "nope", cwd=folder)
    assert missing.returncode == 2 and "trial: no trial 'nope'" in missing.stderr


def test_dry_run_shows_the_rungs_of_the_options_given(folder):
    path = write(folder, with_(scheduler={"name": "asha", "max_t": 20, "grace_period": 2}, searcher="random"))
    done = cli("run", path, "--dry-run", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "ASHA rungs at iterations 2, 6, 18; the top 1/3 of each rung goes on, up to 20" in done.stdout


def test_a_python_tag_is_refused_in_one_line_and_builds_nothing(folder):
    marker = folder / "owned"
    path = write(folder, f"name: exp\ntrainable: bowl:train\nmetric: loss\nspace: !!python/object/apply:os.system [touch {marker}]\n")
    done = cli("run", path, cwd=folder)
    assert done.returncode == 2
    assert done.stderr == (f"raytune-hpo: error: {path}: line 4, column 8: !!python/object/apply:os.system refused; "
                           "the file is read with a safe YAML loader, which builds no objects: write plain values\n")
    again = cli("run", write(folder, GOOD), "--set", f"seed=!!python/object/apply:os.system [touch {marker}]", cwd=folder)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--set seed: cannot read the value" in again.stderr
    assert not marker.exists() and not (folder / "runs").exists()


def test_no_secret_in_the_environment_reaches_the_experiment_directory(folder):
    """Ray's cluster token, MLflow's credentials and W&B's API key, in the environment of the whole
    run (its own Ray cluster, token-authenticated), appear in no file of the experiment (W&B's
    offline runs in its wandb/ folder included) nor in its output."""
    import secrets

    found = {"RAY_AUTH_TOKEN": secrets.token_hex(16), "MLFLOW_TRACKING_PASSWORD": f"pw-{secrets.token_hex(8)}",
             "MLFLOW_TRACKING_TOKEN": f"tok-{secrets.token_hex(8)}", "WANDB_API_KEY": secrets.token_hex(20)}
    tracking = {"mlflow": {"tracking_uri": f"sqlite:///{folder}/mlflow.db", "experiment": "secrets"},
                "wandb": {"mode": "offline"}}
    path = write(folder, with_(name="secret", num_samples=2, tracking=tracking))
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **found, "RAY_AUTH_MODE": "token"}
    done = subprocess.run([sys.executable, "-m", "raytune_hpo.cli", "run", path], capture_output=True, text=True,
                          cwd=folder, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    experiment = folder / "runs" / "secret"
    files = [p for p in experiment.rglob("*") if p.is_file()]
    assert {"manifest.json", "experiment.yaml", "report.html", "hpo.json", "tuner.pkl"} <= {p.name for p in files}
    assert len([p for p in files if p.suffix == ".wandb"]) == 2  # W&B's runs are there to be searched
    for name, secret in found.items():
        assert secret not in done.stdout + done.stderr, name
        assert not [str(p) for p in files if secret.encode() in p.read_bytes()], name
