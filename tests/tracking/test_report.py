"""The static report and the run table's export, after real (tiny) ASHA and PBT experiments
and a multi-objective one: the report a run writes is one self-contained file whose images all
load in headless Chromium, its tables say what the trials' records say, and the exported table
reads back as ``Results.dataframe()``. With several objectives, the report's Pareto front is
``Results.pareto_front()``, infeasible trials are drawn grey, and the hypervolume over budget
never falls and ends at ``Results.hypervolume``."""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
import time
from html.parser import HTMLParser

import pandas as pd
import pytest

import raytune_hpo as hpo
from raytune_hpo._objectives import Objectives
from raytune_hpo.space import flatten
from raytune_hpo.tracking._best_so_far import in_order
from raytune_hpo.tracking._lineage import exploits
from raytune_hpo.tracking._pareto import (
    FEASIBLE,
    FRONT,
    INFEASIBLE,
    Placed,
    hypervolume_over_budget,
    reference_point,
    split,
)
from raytune_hpo.tracking._plots import draw_pareto
from raytune_hpo.tracking._report import plots_folder
from tests.helpers import BOWL_SPACE, chromium, multi_fidelity_bowl

# Screenshots of the reports are kept here (pytest's own temporary folders are recycled).
ARTIFACTS = os.environ.get("RAYTUNE_HPO_TEST_ARTIFACTS", os.path.join(tempfile.gettempdir(), "raytune-hpo-test-artifacts"))


def climber(config: dict) -> None:
    """Climbs by ``lr`` per step from ``init``; each report says which trial saved the
    checkpoint this run segment started from, and at which step: PBT's handovers, as the
    trials saw them."""
    from ray import tune

    me = tune.get_context().get_trial_name()
    state = hpo.load_checkpoint()
    w, step, origin = (config["init"], 0, (me, 0)) if state is None else (state["w"], state["step"], (state["owner"], state["step"]))
    while step < 8:
        time.sleep(0.1)  # the trials overlap, so that PBT has a population to compare
        step += 1
        w += config["lr"]
        hpo.report(score=w, origin_owner=origin[0], origin_step=origin[1],
                   checkpoint={"w": w, "step": step, "owner": me})


@pytest.fixture(scope="module")
def asha(ray_cluster, tmp_path_factory):
    return hpo.run(
        multi_fidelity_bowl, BOWL_SPACE, metric="loss", mode="min", scheduler="asha", num_samples=8, max_t=9,
        seed=0, resources={"cpu": 0.5}, storage=str(tmp_path_factory.mktemp("runs")), name="asha", verbose=0,
        scheduler_options={"grace_period": 1, "reduction_factor": 3},
    )


@pytest.fixture(scope="module")
def pbt(ray_cluster, tmp_path_factory):
    return hpo.run(
        climber, {"init": hpo.uniform(0.0, 5.0), "lr": hpo.uniform(0.1, 1.0)}, metric="score", mode="max",
        scheduler="pbt", num_samples=4, max_t=8, seed=0, resources={"cpu": 0.5},
        storage=str(tmp_path_factory.mktemp("runs")), name="pbt", verbose=0,
        scheduler_options={"perturbation_interval": 2, "quantile_fraction": 0.25},
    )


def tradeoff(config: dict) -> None:
    """Two objectives at odds: ``loss`` least at x = 0.3, ``size`` growing with x. ``mem`` is x,
    0.2 more on the first report: under ``mem <= 0.7`` a trial with x above 0.5 is infeasible,
    though the last report of one with x = 0.6 keeps the bound."""
    x = config["x"]
    for i in range(3):
        hpo.report(loss=(x - 0.3) ** 2 + 1 / (i + 1), size=10 * x, mem=x + (0.2 if i == 0 else 0.0))


# By x: on the front (the least size, the least loss, and between), feasible but dominated
# (0.4 by 0.2: as low a loss, less size; 0.45 by 0.35), infeasible.
TRADEOFF_KINDS = {0.05: FRONT, 0.2: FRONT, 0.35: FRONT, 0.4: FEASIBLE, 0.45: FEASIBLE, 0.6: INFEASIBLE, 0.9: INFEASIBLE}
SEVERAL = {"metric": ["loss", "size"], "mode": ["min", "min"], "constraints": {"mem": ("<=", 0.7)}}


def run_tradeoff(storage, name: str, xs, **objectives):
    # "noise" varies and does nothing: the parameter plot and importance have two parameters.
    space = {"x": hpo.grid(list(xs)), "noise": hpo.uniform(0.0, 1.0)}
    return hpo.run(tradeoff, space, **(objectives or SEVERAL), num_samples=1, seed=0, resources={"cpu": 0.5},
                   storage=str(storage), name=name, verbose=0)


@pytest.fixture(scope="module")
def several(ray_cluster, tmp_path_factory):
    return run_tradeoff(tmp_path_factory.mktemp("runs"), "several", TRADEOFF_KINDS)


class _Page(HTMLParser):
    """The tables (by id: rows of cell texts) and the src/href values of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self._table: list[list[str]] | None = None  # the rows of the table being read
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        if tag == "table":
            self._table = self.tables[attrs.get("id")] = []
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def header(self, table: str) -> list[str]:
        return self.tables[table][0]

    def rows(self, table: str) -> list[list[str]]:
        return self.tables[table][1:]


def page_of(results) -> _Page:
    with open(os.path.join(results.path, "report.html"), encoding="utf-8") as f:
        return _Page(f.read())


@pytest.mark.parametrize("experiment", ["asha", "pbt", "several"])
def test_the_run_writes_one_self_contained_report_with_its_plots_beside_it(experiment, request):
    results = request.getfixturevalue(experiment)
    page = page_of(results)
    assert page.links, "no image in the report"
    assert all(link.startswith("data:image/png;base64,") for link in page.links), page.links
    embedded = sorted(base64.b64decode(link.split(",", 1)[1]) for link in page.links)
    folder = plots_folder(os.path.join(results.path, "report.html"))
    files = []
    for name in sorted(os.listdir(folder)):
        assert name.endswith(".png")
        with open(os.path.join(folder, name), "rb") as f:
            files.append(f.read())
    assert embedded == sorted(files)  # the PNG files are the images of the report
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in files)


def test_the_run_table_lists_every_trial_best_first(asha):
    page = page_of(asha)
    rows, column = page.rows("runs"), page.header("runs").index("best loss")
    assert sorted(row[0] for row in rows) == sorted(t.trial_id for t in asha.trials)
    best = [float(row[column]) for row in rows]
    assert best == sorted(best)
    assert best[0] == pytest.approx(asha.best_metrics["loss"], rel=1e-3)
    assert [row[0] for row in rows] == list(asha.dataframe()["trial_id"])


def test_parameter_importance_names_its_method_or_says_why_there_is_none(asha, pbt):
    page = page_of(asha)
    shares = {row[0]: float(row[1]) for row in page.rows("importance")}
    assert set(shares) == {"x", "opt.lr", "kind", "n"}  # the varying parameters, not the constants
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
    with open(os.path.join(asha.path, "report.html"), encoding="utf-8") as f:
        assert "Method: fANOVA (Optuna&#x27;s FanovaImportanceEvaluator)" in f.read()
    with open(os.path.join(pbt.path, "report.html"), encoding="utf-8") as f:
        assert "needs at least 5 trials with a finite score" in f.read()


def test_the_rungs_count_what_the_trials_iteration_counts_say(asha):
    rungs = [[int(cell) for cell in row] for row in page_of(asha).rows("rungs")]
    counts = [t.iterations for t in asha.trials]
    stopped = sorted({n for n in counts if n < 9})
    assert stopped, "ASHA stopped no trial"
    assert set(stopped) <= {1, 3}  # ASHA's rungs for grace 1, reduction factor 3, max_t 9
    assert [iteration for iteration, _, _ in rungs] == stopped + [9]
    for iteration, reached, stopped_there in rungs:
        assert reached == sum(n >= iteration for n in counts)
        assert stopped_there == (sum(n == iteration for n in counts) if iteration < 9 else 0)


def test_the_pbt_lineage_lists_every_exploit_the_trials_saw(pbt):
    by_name = {t.name: t for t in pbt.trials}
    seen = set()  # (receiver, donor, donor's step) from the reports of the trials
    for t in pbt.trials:
        for report in t.history:
            if report["origin_owner"] != t.name:
                seen.add((t.trial_id, by_name[report["origin_owner"]].trial_id, report["origin_step"]))
    assert seen, "PBT never exploited"
    found = exploits(pbt)
    assert {(x.receiver, x.donor, x.donor_iteration) for x in found} == seen
    for x in found:
        history = next(t for t in pbt.trials if t.trial_id == x.receiver).history
        first = next(i for i, r in enumerate(history) if r["origin_step"] == x.donor_iteration
                     and by_name[r["origin_owner"]].trial_id == x.donor)
        assert history[first - 1]["training_iteration"] == x.iteration  # the report that made it copy
        explored = flatten(history[first]["config"])
        assert x.changes and all(explored[name] == new for name, (_, new) in x.changes.items())
    rows = page_of(pbt).rows("lineage")
    assert [(int(r[0]), r[1], r[2], int(r[3])) for r in rows] == [
        (x.iteration, x.receiver, x.donor, x.donor_iteration) for x in found
    ]


@pytest.mark.browser  # skipped, saying why, without Chromium or Playwright (tests/conftest.py)
@pytest.mark.parametrize("experiment", ["asha", "pbt", "several"])
def test_every_image_loads_in_headless_chromium(experiment, request, capsys):
    from playwright.sync_api import sync_playwright

    results = request.getfixturevalue(experiment)
    report = os.path.join(results.path, "report.html")
    requested = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium())
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requested.append(r.url))
            page.goto(f"file://{report}", wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            os.makedirs(ARTIFACTS, exist_ok=True)
            screenshot = os.path.join(ARTIFACTS, f"report-{experiment}.png")
            page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    assert len(images) == len(os.listdir(plots_folder(report)))
    assert all(complete and width > 0 and height > 0 for complete, width, height in images), images
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
    with capsys.disabled():
        print(f"\nscreenshot of the {experiment} report: {screenshot}")


@pytest.mark.parametrize("format, read", [("csv", pd.read_csv), ("parquet", pd.read_parquet)])
def test_the_exported_table_reads_back_as_the_dataframe(asha, tmp_path, format, read):
    output = tmp_path / f"table.{format}"
    done = subprocess.run(["raytune-hpo", "export", asha.path, "--format", format, "--output", str(output)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(output)
    frame = asha.dataframe()
    assert {"trial_id", "status", "iterations", "duration_s", "error", "node", "best.loss", "last.loss"} <= set(frame)
    last = {t.trial_id: t.history[-1] for t in asha.trials}
    assert all(row.duration_s == last[row.trial_id]["time_total_s"] for row in frame.itertuples())
    # A CSV file has one kind of empty cell: None (no error) and NaN read back alike.
    pd.testing.assert_frame_equal(missing_as_none(read(output)), missing_as_none(frame), check_dtype=False)


def missing_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None)


def test_report_compares_experiments_on_one_metric(asha, ray_cluster, tmp_path):
    other = hpo.run(multi_fidelity_bowl, {**BOWL_SPACE, "iterations": 3}, metric="loss", num_samples=3, seed=1,
                    resources={"cpu": 0.5}, storage=str(tmp_path / "runs"), name="random", verbose=0)
    output = tmp_path / "compare.html"
    done = subprocess.run(["raytune-hpo", "report", asha.path, other.path, "--output", str(output)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    page = _Page(output.read_text(encoding="utf-8"))
    assert [row[0] for row in page.rows("experiments")] == ["asha", "random"]
    assert len(page.links) == 1 and os.path.exists(tmp_path / "compare" / "best_so_far.png")


@pytest.mark.parametrize("arguments, message", [
    (["report", "{tmp}"], "is not a raytune-hpo experiment directory"),
    (["report", "{asha}", "{pbt}"], "experiments compare on one metric"),
    (["export", "{asha}", "--format", "xlsx"], "format: unknown format 'xlsx'; use csv or parquet"),
])
def test_a_mistake_is_one_line_and_exit_2(asha, pbt, tmp_path, arguments, message):
    paths = {"tmp": str(tmp_path), "asha": asha.path, "pbt": pbt.path}
    done = subprocess.run(["raytune-hpo", *(a.format(**paths) for a in arguments)], capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr


def test_a_report_that_cannot_be_written_costs_a_warning_not_the_run(ray_cluster, tmp_path, capfd):
    storage = tmp_path / "runs"
    (storage / "blocked" / "report.html").mkdir(parents=True)  # a directory where the file goes
    results = hpo.run(multi_fidelity_bowl, {**BOWL_SPACE, "iterations": 2}, metric="loss", num_samples=2, seed=0,
                      resources={"cpu": 0.5}, storage=str(storage), name="blocked", verbose=0)
    assert len(results.trials) == 2 and results.best_config is not None
    warnings = [line for line in capfd.readouterr().err.splitlines() if "no report written" in line]
    assert len(warnings) == 1 and results.path in warnings[0], warnings


def test_the_report_of_several_objectives_shows_the_front_instead_of_a_best(several):
    with open(os.path.join(several.path, "report.html"), encoding="utf-8") as f:
        text = f.read()
    assert "objectives loss (min), size (min); mem &lt;= 0.7" in text
    for heading in ("<h2>Pareto front</h2>", "<h2>Hypervolume over budget</h2>",
                    "<h2>Learning curves (first objective: loss)</h2>",
                    "<h2>Parameters against the first objective: loss</h2>",
                    "<h2>Parameter importance (first objective: loss)</h2>"):
        assert heading in text
    assert "Best so far" not in text and "Best loss" not in text
    assert sorted(os.listdir(plots_folder(os.path.join(several.path, "report.html")))) == [
        "hypervolume.png", "importance.png", "learning_curves.png", "parallel_coordinates.png", "pareto_front.png"]
    page = page_of(several)
    assert [row[0] for row in page.rows("runs")] == list(several.dataframe()["trial_id"])  # the front first
    on_front = page.header("runs").index("on the front")
    assert {row[0] for row in page.rows("runs") if row[on_front] == "yes"} == set(several.pareto_front()["trial_id"])


def test_the_front_table_lists_exactly_the_trials_of_pareto_front(several):
    page, front = page_of(several), several.pareto_front()
    header = page.header("pareto")
    assert header[:4] == ["trial", "loss", "size", "mem"]
    rows = page.rows("pareto")
    assert [row[0] for row in rows] == list(front["trial_id"]) and len(rows) == 3
    for row, (_, expected) in zip(rows, front.iterrows()):
        for column in ("loss", "size", "mem"):
            assert float(row[header.index(column)]) == pytest.approx(expected[column], rel=1e-3)
        assert f"x = {expected['config.x']:.4g}" in row[header.index("configuration")]


def test_each_trial_is_on_the_front_feasible_or_infeasible_as_its_reports_say(several):
    frame = several.dataframe().set_index("trial_id")
    placed = split(several)
    assert len(placed) == len(several.trials)
    by_x = {}
    for p in placed:
        row = frame.loc[p.trial_id]
        assert p.kind == (FRONT if row["pareto"] else FEASIBLE if row["feasible"] else INFEASIBLE)
        assert p.values == pytest.approx((row["last.loss"], row["last.size"]))
        by_x[row["config.x"]] = p.kind
    assert by_x == TRADEOFF_KINDS


def test_the_hypervolume_over_budget_never_falls_and_ends_at_the_fronts(several):
    reference = reference_point(several.objectives, several.points)
    feasible = several.dataframe().query("feasible")
    for metric, value in zip(("loss", "size"), reference):  # the worst feasible, 10 % of the range further
        column = feasible[f"last.{metric}"]
        assert value == pytest.approx(column.max() + 0.1 * (column.max() - column.min()))
    trace = hypervolume_over_budget(several, reference)
    reports = in_order(several)
    assert trace.iterations == list(range(1, len(reports) + 1)) == list(range(1, 3 * len(several.trials) + 1))
    assert all(a <= b for a, b in zip(trace.values, trace.values[1:]))
    assert trace.values[-1] == pytest.approx(several.hypervolume(list(reference)), rel=1e-12) and trace.values[-1] > 0
    rises = [made for made, before, after in zip(reports, [0.0, *trace.values], trace.values) if after > before]
    assert rises and all(made.row == 2 for made in rises)  # a trial joins the front at its last report
    with open(os.path.join(several.path, "report.html"), encoding="utf-8") as f:
        assert f"hypervolume <b>{trace.values[-1]:.4g}</b>" in f.read()


def test_the_pareto_plot_has_a_panel_per_pair_and_greys_the_infeasible():
    from matplotlib.colors import to_rgba

    objectives = Objectives.of(["loss", "accuracy", "size"], ["min", "max", "min"])
    placed = [Placed("a", (0.1, 0.9, 5.0), FRONT), Placed("b", (0.3, 0.95, 2.0), FRONT),
              Placed("c", (0.4, 0.8, 6.0), FEASIBLE), Placed("d", (0.05, 0.99, 1.0), INFEASIBLE)]
    panels = [ax for ax in draw_pareto(objectives, placed, (0.5, 0.7, 7.0)).axes if ax.get_visible()]
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in panels] == [
        ("loss (min)", "accuracy (max)"), ("loss (min)", "size (min)"), ("accuracy (max)", "size (min)")]
    for ax, (i, j) in zip(panels, [(0, 1), (0, 2), (1, 2)]):
        drawn = {c.get_label(): c for c in ax.collections}
        assert set(drawn) == {"on the Pareto front (2)", "feasible, dominated (1)", "infeasible (1)"}
        grey = drawn["infeasible (1)"]
        assert tuple(grey.get_facecolor()[0]) == to_rgba("lightgrey")
        assert [tuple(o) for o in grey.get_offsets()] == [((0.05, 0.99, 1.0)[i], (0.05, 0.99, 1.0)[j])]
        assert tuple(drawn["on the Pareto front (2)"].get_facecolor()[0]) == to_rgba("tab:red")


def test_the_front_of_two_objectives_is_joined_by_its_staircase_to_the_reference_point():
    objectives = Objectives.of(["loss", "accuracy"], ["min", "max"])
    front = [(0.1, 0.8), (0.3, 0.9), (0.2, 0.85)]
    placed = [Placed(str(i), v, FRONT) for i, v in enumerate(front)] + [Placed("x", (0.35, 0.82), FEASIBLE)]
    (ax,) = draw_pareto(objectives, placed, (0.4, 0.7)).axes
    (line,) = [line for line in ax.lines if line.get_label() == "the front's staircase"]
    corners = list(zip(line.get_xdata(), line.get_ydata()))
    assert corners == [(0.1, 0.7), (0.1, 0.8), (0.2, 0.8), (0.2, 0.85), (0.3, 0.85), (0.3, 0.9), (0.4, 0.9)]
    (reference,) = [line for line in ax.lines if line.get_label() == "reference point"]
    assert (reference.get_xdata()[0], reference.get_ydata()[0]) == (0.4, 0.7)


def test_experiments_with_several_objectives_compare_by_hypervolume(several, ray_cluster, tmp_path):
    other = run_tradeoff(tmp_path / "runs", "other", [0.1, 0.3, 0.5])
    output = tmp_path / "compare.html"
    done = subprocess.run(["raytune-hpo", "report", several.path, other.path, "--output", str(output)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    page = _Page(output.read_text(encoding="utf-8"))
    reference = reference_point(several.objectives, several.points + other.points)  # one for both
    header, rows = page.header("experiments"), page.rows("experiments")
    assert [row[0] for row in rows] == ["several", "other"]
    for row, results in zip(rows, (several, other)):
        assert int(row[header.index("trials on the front")]) == len(results.pareto_front())
        assert float(row[header.index("hypervolume")]) == pytest.approx(results.hypervolume(list(reference)), rel=1e-3)
    assert len(page.links) == 1 and os.path.exists(tmp_path / "compare" / "hypervolume.png")


@pytest.mark.parametrize("objectives", [{"metric": ["loss", "size"], "mode": ["min", "max"]}, {"metric": "loss"}])
def test_experiments_on_other_objectives_are_refused_in_one_line(several, ray_cluster, tmp_path, objectives):
    other = run_tradeoff(tmp_path / "runs", "other", [0.1], **objectives)
    done = subprocess.run(["raytune-hpo", "report", several.path, other.path], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"raytune-hpo: error: experiments compare on the same objectives: {several.path!r} has loss (min), size (min); "
        f"mem <= 0.7, {other.path!r} has {other.objectives.describe()}"
    ], done.stderr
