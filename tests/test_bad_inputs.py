"""The catalogue of bad inputs, one test each: through the Python API, an experiment file or the
command line, every one is refused with one line naming the field and the fix — the API with
:class:`hpo.ConfigError` (a ValueError), the command with that line on stderr and exit status
2, never a traceback — and an existing experiment in the same storage folder is left
byte-identical."""

from __future__ import annotations

import hashlib
import os

import pytest

import raytune_hpo as hpo
from tests.helpers import BOWL, BOWL_SPACE, cli, multi_fidelity_bowl, with_, write

OTHER = "<another storage folder>"  # for the cases that start trials: not the existing experiment's


class Model:
    def __init__(self, config):
        self.config = config


def reports_accuracy(config):
    hpo.report(accuracy=config["x"])


# (case, how it is given, what is given, words the one line must hold)
# run: hpo.run's arguments over a good call into the existing experiment's storage and name;
# resume: hpo.resume of a folder in that storage; file: `raytune-hpo run FILE` of tests.test_config's
# GOOD file with these fields changed (None removes one; a string is the whole file), into that
# storage; command: raytune-hpo's arguments ({file}: a good file, {storage}, {experiment}).
CATALOGUE = [
    ("run-trainable-not-a-function", "run", {"trainable": "train"}, ["trainable:", "must be a function train(config), got str"]),
    ("run-trainable-a-class", "run", {"trainable": Model}, ["trainable:", "must be a function train(config), got type"]),
    ("run-trainable-two-arguments", "run", {"trainable": lambda config, extra: None}, ["trainable:", "must take one argument"]),
    ("run-metric-not-a-string", "run", {"metric": 3}, ["metric:", "non-empty string", "got 3"]),
    ("run-metric-list-with-one-mode", "run", {"metric": ["loss", "x"], "mode": "min"},
     ["mode:", "one mode per metric (2)", "mode=['min', 'min']"]),
    ("run-metric-given-twice", "run", {"metric": ["loss", "loss"], "mode": ["min", "min"]}, ["metric:", "'loss' given twice"]),
    ("run-several-objectives-for-hyperopt", "run", {"metric": ["loss", "x"], "mode": ["min", "max"], "searcher": "hyperopt"},
     ["searcher:", "'hyperopt' optimises one objective", "nsga2"]),
    ("run-several-objectives-for-median", "run", {"metric": ["loss", "x"], "mode": ["min", "max"], "scheduler": "median"},
     ["scheduler:", "'median' compares trials by one metric", "asha"]),
    ("run-constraint-for-median", "run", {"constraints": {"loss": ("<=", 1)}, "scheduler": "median"},
     ["scheduler:", "cannot take constraints"]),
    ("run-constraint-operator", "run", {"constraints": {"x": ("<", 1)}}, ["constraints.x:", "operator '<' unknown", "'<=' or '>='"]),
    ("run-constraint-bound-a-string", "run", {"constraints": {"x": ("<=", "big")}},
     ["constraints.x:", "bound must be a finite number, got 'big'"]),
    ("run-constraint-not-a-pair", "run", {"constraints": {"x": 3}}, ["constraints.x:", "must be (operator, bound)"]),
    ("run-constraint-never-reported", "run", {"constraints": {"mem": ("<=", 1)}, "storage": OTHER, "name": "stopped-c"},
     ["constraints.mem:", "reported loss but not 'mem'", "drop the constraint"]),
    ("run-second-objective-never-reported", "run",
     {"metric": ["loss", "latency"], "mode": ["min", "min"], "storage": OTHER, "name": "stopped-m"},
     ["metric:", "reported loss but not 'latency'", "hpo.report() must include latency="]),
    ("run-mode-maximize", "run", {"mode": "maximize"}, ["mode:", "'min' or 'max', got 'maximize'"]),
    ("run-space-empty", "run", {"space": {}}, ["space:", "has no parameter", "hpo.loguniform"]),
    ("run-space-not-a-dict", "run", {"space": ["lr"]}, ["space:", "must be a dict", "got list"]),
    ("run-space-log-bound-zero", "run", {"space": {"lr": hpo.loguniform(0, 1)}}, ["space.lr:", "must be > 0"]),
    ("run-space-empty-choice", "run", {"space": {"act": hpo.choice([])}}, ["space.act:", "at least one option"]),
    ("run-searcher-unknown", "run", {"searcher": "tpee"}, ["searcher:", "unknown name 'tpee'", "choose one of"]),
    ("run-scheduler-unknown", "run", {"scheduler": "ashaa"}, ["scheduler:", "unknown name 'ashaa'", "choose one of"]),
    ("run-impossible-pairing", "run", {"searcher": "bohb", "scheduler": "asha"},
     ["scheduler:", "searcher 'bohb' cannot run with scheduler 'asha'", "needs scheduler"]),
    ("run-pbt-without-checkpoints", "run", {"scheduler": "pbt"}, ["scheduler:", "'pbt'", "hpo.load_checkpoint()"]),
    ("run-grid-of-a-continuous-space", "run", {"searcher": "grid"}, ["space.x:", "searcher 'grid'", "searcher 'random'"]),
    ("run-searcher-option-unknown", "run", {"searcher": "tpe", "searcher_options": {"n_init": 3}},
     ["searcher_options.n_init:", "not an option of searcher 'tpe'", "valid:"]),
    ("run-scheduler-option-out-of-range", "run", {"scheduler": "asha", "scheduler_options": {"reduction_factor": 1}},
     ["scheduler_options.reduction_factor:", "refused", "give a value it accepts"]),
    ("run-grace-period-beyond-max-t", "run", {"scheduler": "asha", "scheduler_options": {"grace_period": 5}},
     ["scheduler_options.grace_period:", "max_t"]),
    ("run-hyperband-without-max-t", "run", {"scheduler": "hyperband", "max_t": None}, ["max_t:", "needs max_t"]),
    ("run-max-t-given-twice", "run", {"scheduler_options": {"max_t": 3}}, ["max_t:", "given twice", "keep one"]),
    ("run-max-t-zero", "run", {"max_t": 0}, ["max_t:", "positive integer, got 0"]),
    ("run-num-samples-negative", "run", {"num_samples": -4}, ["num_samples:", "positive integer, got -4"]),
    ("run-max-concurrent-zero", "run", {"max_concurrent": 0}, ["max_concurrent:", "positive integer, got 0"]),
    ("run-max-failures-a-string", "run", {"max_failures": "3"}, ["max_failures:", "non-negative integer, got '3'"]),
    ("run-time-budget-negative", "run", {"time_budget_s": -60}, ["time_budget_s:", "positive number of seconds"]),
    ("run-seed-a-float", "run", {"seed": 0.5}, ["seed:", "must be an integer, got 0.5"]),
    ("run-resources-negative-gpu", "run", {"resources": {"cpu": 1, "gpu": -1}}, ["resources.gpu:", "number >= 0, got -1"]),
    ("run-resources-unknown-name", "run", {"resources": {"gpus": 1}}, ["resources.gpus:", "unknown resource", "use cpu, gpu"]),
    ("run-resources-none", "run", {"resources": {"cpu": 0}}, ["resources:", "needs some cpu or gpu"]),
    ("run-more-gpus-than-the-cluster", "run", {"resources": {"cpu": 1, "gpu": 1}, "name": "gpu"},
     ["resources.gpu:", "asks for 1 gpu", "largest node of the Ray cluster has 0", "lower resources.gpu"]),
    ("run-more-cpus-than-a-node", "run", {"resources": {"cpu": 64}, "name": "cpu"},
     ["resources.cpu:", "asks for 64 cpu", "has 2"]),
    ("run-metric-never-reported", "run", {"trainable": reports_accuracy, "storage": OTHER, "name": "stopped"},
     ["metric:", "reported accuracy but not 'loss'", "hpo.report() must include loss="]),
    ("run-name-a-path", "run", {"name": "../escape"}, ["name:", "'../escape' must be letters, digits"]),
    ("run-storage-not-a-path", "run", {"storage": 3}, ["storage:", "must be a directory path, got 3"]),
    ("run-tracking-unknown", "run", {"tracking": {"neptune": {}}},
     ["tracking.neptune: unknown tracker; the trackers are mlflow, wandb, optuna"]),
    ("run-tracking-options-not-a-mapping", "run", {"tracking": {"wandb": "offline"}},
     ["tracking.wandb: must be a mapping of project, entity, mode, group, got 'offline'"]),
    ("run-tracking-wandb-mode", "run", {"tracking": {"wandb": {"mode": "offlin"}}},
     ["tracking.wandb.mode: must be 'online' or 'offline' or 'disabled', got 'offlin'"]),
    ("run-tracking-wandb-api-key", "run", {"tracking": {"wandb": {"api_key": "0123"}}},
     ["tracking.wandb.api_key: credentials are never an option", "WANDB_API_KEY"]),
    ("run-tracking-optuna-without-journal", "run", {"tracking": {"optuna": {"study": "s"}}},
     ["tracking.optuna.journal: required: the journal file to write"]),
    ("run-tracking-option-wrong-type", "run", {"tracking": {"optuna": {"journal": 3}}},
     ["tracking.optuna.journal: must be a file path, got 3"]),
    ("run-into-an-existing-experiment", "run", {}, ["name:", "exists already", "hpo.resume("]),
    ("resume-a-missing-folder", "resume", "nope", ["experiment directory", "does not exist", "storage/name"]),
    ("resume-a-folder-not-an-experiment", "resume", ".", ["not a raytune-hpo experiment directory (no hpo.json)"]),
    ("file-bad-yaml-syntax", "file", "name: [unclosed\n", ["exp.yaml: not valid YAML (line 2, column 1"]),
    ("file-python-object-tag", "file", "name: exp\nspace: !!python/object/apply:os.system [echo owned]\n",
     ["exp.yaml: line 2, column 8: !!python/object/apply:os.system refused", "safe YAML loader"]),
    ("file-not-a-mapping", "file", "- name\n- metric\n", ["exp.yaml: must be a mapping of fields"]),
    ("file-unknown-field", "file", {"serch": "tpe"}, ["serch: unknown field", "did you mean 'searcher'?"]),
    ("file-metric-missing", "file", {"metric": None}, ["metric: missing", "trainable, metric, space"]),
    ("file-trainable-not-module-function", "file", {"trainable": "bowl.train"}, ["trainable: must be 'module:function'"]),
    ("file-trainable-module-missing", "file", {"trainable": "nowhere:train"}, ["trainable: cannot import 'nowhere'"]),
    ("file-trainable-not-a-function", "file", {"trainable": "bowl:hpo"}, ["trainable: module 'bowl' has no function 'hpo'"]),
    ("file-space-empty", "file", {"space": {}}, ["space: has no parameter"]),
    ("file-space-primitive-misspelt", "file", {"space": {"x": {"unifrom": [0, 1]}}},
     ["space.x: unknown primitive 'unifrom'", "did you mean 'uniform'?"]),
    ("file-space-arguments", "file", {"space": {"x": {"uniform": [0]}}}, ["space.x.uniform: takes [low, high], got [0]"]),
    ("file-space-branch-without-options", "file", {"space": {"o": {"choice": [{"a": {"choice": []}}, "off"]}}},
     ["space.o[0].a: choice needs at least one option"]),
    ("file-conditional-space-searcher-cannot", "file",
     {"searcher": "cmaes", "space": {"o": {"choice": [{"x": {"uniform": [0, 1]}}, "off"]}, "epochs": 2}},
     ["space.o: a choice whose options hold parameters makes the space conditional, which searcher 'cmaes' cannot"]),
    ("file-mode", "file", {"mode": "maximise"}, ["mode: must be 'min' or 'max', got 'maximise'"]),
    ("file-modes-fewer-than-metrics", "file", {"metric": ["loss", "x"], "mode": ["min"]},
     ["mode: give one mode per metric (2)", "got ['min']"]),
    ("file-constraint-operator", "file", {"constraints": {"loss": ["<>", 1]}}, ["constraints.loss: operator '<>' unknown"]),
    ("file-num-samples-negative", "file", {"num_samples": -1}, ["num_samples: must be a positive integer, got -1"]),
    ("file-max-concurrent-zero", "file", {"max_concurrent": 0}, ["max_concurrent: must be a positive integer, got 0"]),
    ("file-resources-negative", "file", {"resources": {"cpu": 1, "gpu": -0.5}}, ["resources.gpu: must be a number >= 0"]),
    ("file-scheduler-max-t-zero", "file", {"scheduler": {"name": "asha", "max_t": 0}}, ["scheduler.max_t: must be a positive integer"]),
    ("file-scheduler-option-unknown", "file", {"scheduler": {"name": "asha", "max_t": 3, "grace": 1}},
     ["scheduler.grace: not an option of scheduler 'asha'", "grace_period"]),
    ("file-scheduler-option-out-of-range", "file", {"scheduler": {"name": "asha", "max_t": 3, "reduction_factor": 1}},
     ["scheduler.reduction_factor: scheduler 'asha' refused"]),
    ("file-searcher-unknown", "file", {"searcher": {"name": "tpee"}}, ["searcher.name: unknown name 'tpee'"]),
    ("file-impossible-pairing", "file", {"searcher": "bohb"}, ["scheduler.name: searcher 'bohb' cannot run with scheduler 'asha'"]),
    ("file-tracking-option-unknown", "file", {"tracking": {"mlflow": {"uri": "x"}}}, ["tracking.mlflow.uri: not an option of tracker 'mlflow'; valid: experiment, tracking_uri"]),
    ("file-into-an-existing-experiment", "file", {}, ["name: experiment", "exists already", "hpo.resume("]),
    ("file-more-gpus-than-the-cluster", "file", {"name": "gpu", "resources": {"cpu": 1, "gpu": 2}},
     ["resources.gpu: a trial asks for 2 gpu but the largest node of the Ray cluster has 0"]),
    ("file-metric-never-reported", "file", {"metric": "accuracy", "name": "stopped", "storage": OTHER},
     ["metric: a trial reported loss but not 'accuracy'"]),
    ("command-missing-file", "command", ["run", "{storage}/missing.yaml"], ["missing.yaml: cannot be read (No such file"]),
    ("command-warm-start-not-an-experiment", "command", ["run", "{file}", "--warm-start", "{storage}/missing"],
     ["warm_start: '", "/missing' cannot be read as an experiment ("]),
    ("command-warm-start-other-mode", "command", ["run", "{file}", "--warm-start", "{experiment}", "--set", "mode=max"],
     ["warm_start: '", "' optimised loss (min), this experiment loss (max); warm-start from an experiment of the same"]),
    ("command-set-without-value", "command", ["run", "{file}", "--set", "num_samples"], ["--set: expected key.path=value"]),
    ("command-set-out-of-range", "command", ["run", "{file}", "--set", "num_samples=0"],
     ["num_samples: must be a positive integer, got 0"]),
    ("command-set-python-tag", "command", ["run", "{file}", "--set", "seed=!!python/name:os.system"],
     ["--set seed: cannot read the value", "give a plain value"]),
    ("command-set-inside-a-value", "command", ["run", "{file}", "--set", "metric.name=loss"], ["--set metric.name: metric is not a mapping"]),
    ("command-unknown-option", "command", ["run", "{file}", "--sett", "x"], ["unrecognized arguments: --sett x", "--help"]),
    ("command-unknown-command", "command", ["fly"], ["invalid choice: 'fly'"]),
    ("command-port-not-a-number", "command", ["tensorboard", "{experiment}", "--port", "abc"], ["--port: must be an integer, got 'abc'"]),
    ("command-export-unknown-format", "command", ["export", "{experiment}", "--format", "xls"], ["format: unknown format 'xls'", "csv or parquet"]),
    ("command-resume-not-an-experiment", "command", ["resume", "{storage}"], ["not a raytune-hpo experiment directory"]),
    ("command-export-optuna-unwritable", "command", ["export", "{experiment}", "--optuna", "/proc/no/study.log"],
     ["--optuna: cannot write '/proc/no/study.log'"]),
    ("command-export-study-without-optuna", "command", ["export", "{experiment}", "--study", "s"],
     ["--study: names the study --optuna writes; give --optuna JOURNAL"]),
    ("command-export-trial-without-params", "command", ["export", "{experiment}", "--trial", "x"],
     ["--trial: picks the trial --params and --metrics write; give one of them"]),
    ("command-export-trial-unknown", "command", ["export", "{experiment}", "--params", "{storage}/p.yaml", "--trial", "x"],
     ["--trial: no trial 'x' in the experiment"]),
]


@pytest.fixture(scope="module")
def existing(ray_cluster, tmp_path_factory) -> str:
    """A finished experiment, ``exp``, in the storage folder every case aims at."""
    storage = str(tmp_path_factory.mktemp("bad-inputs") / "runs")
    return hpo.run(multi_fidelity_bowl, BOWL_SPACE, metric="loss", num_samples=2, max_t=2, storage=storage,
                   name="exp", seed=0, verbose=0).path


def data_runs_trials(given) -> bool:
    """Whether a file case runs trials before it is refused (into the storage OTHER)."""
    return isinstance(given, dict) and given.get("storage") == OTHER


def contents(folder: str) -> dict[str, str]:
    """Every file under ``folder`` by its path, as a hash of its bytes."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                found[os.path.relpath(os.path.join(root, name), folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.mark.parametrize(("via", "given", "words"), [case[1:] for case in CATALOGUE], ids=[case[0] for case in CATALOGUE])
def test_bad_input_gets_one_line_naming_the_field(existing, ray_cluster, tmp_path, via, given, words):
    storage = os.path.dirname(existing)
    other = str(tmp_path / "runs")
    before, listing = contents(existing), sorted(os.listdir(storage))
    if via in ("run", "resume"):
        with pytest.raises(hpo.ConfigError) as refused:
            if via == "resume":
                hpo.resume(os.path.join(storage, given), verbose=0)
            else:
                arguments = {"trainable": multi_fidelity_bowl, "space": BOWL_SPACE, "metric": "loss", "num_samples": 2,
                             "max_t": 2, "storage": storage, "name": "exp", "verbose": 0, **given}
                arguments["storage"] = other if arguments["storage"] == OTHER else arguments["storage"]
                hpo.run(arguments.pop("trainable"), arguments.pop("space"), **arguments)
        message = str(refused.value)
        assert isinstance(refused.value, ValueError)
    else:
        (tmp_path / "bowl.py").write_text(BOWL)
        if via == "file":
            data = given if isinstance(given, str) else {**with_(**given), "storage": given.get("storage", storage)}
            if isinstance(data, dict) and data["storage"] == OTHER:
                data["storage"] = other
            # Where trials run before the mistake shows (a metric never reported), --quiet: at the
            # default verbosity Ray forwards what their workers print, and a worker stopped by
            # SIGTERM at the end may print Ray's traceback of its exit (SystemExit in a weakref
            # callback), a race of Ray's (README, "Experiments as files").
            quiet = ["--quiet"] if data_runs_trials(given) else []
            done = cli("run", write(tmp_path, data), *quiet, cwd=tmp_path, env={"RAY_ADDRESS": ray_cluster})
        else:
            good = write(tmp_path, {**with_(name="new"), "storage": storage}, "good.yaml")
            argv = [a.format(file=good, storage=storage, experiment=existing) for a in given]
            done = cli(*argv, cwd=tmp_path, env={"RAY_ADDRESS": ray_cluster})
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("raytune-hpo"), done.stderr
        message = done.stderr.partition("error: ")[2]
    assert "\n" not in message.rstrip("\n")
    assert os.path.exists(other) == (OTHER in str(given))  # only the cases meant to start trials did
    for word in words:
        assert word in message, message
    assert contents(existing) == before and sorted(os.listdir(storage)) == listing
