"""One real local Ray cluster for the whole test run; tests that need what this machine lacks
skipped with the reason and the remedy; with HPO_TESTS_NO_SKIP=1 (as ``.ci/run`` sets it) a run
that skipped anything fails. Shared helpers are in tests/helpers.py."""

from __future__ import annotations

import os

import pytest

from tests.helpers import free_cpus, missing

# Markers (pyproject.toml) of tests that need more than Python; tests/helpers.py's missing()
# says whether this machine has it.
REQUIREMENTS = ("slurm", "browser", "root")
# A test using one of these fixtures gets the marker even where it was not written.
MARKED_BY_FIXTURE = {"slurm": "slurm", "tmpfs": "root"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A test marked with a requirement this machine lacks is skipped, the reason saying what is
    missing and how to get it."""
    reasons: dict[str, str | None] = {}
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None:
                item.add_marker(marker)
        for name in REQUIREMENTS:
            if item.get_closest_marker(name) is None:
                continue
            if name not in reasons:
                reasons[name] = missing(name)
            if reasons[name]:
                item.add_marker(pytest.mark.skip(reason=f"[{name}] {reasons[name]}"))


_skipped: list[str] = []  # "test id: reason" of every skip of this session


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(f"{report.nodeid}: {_reason(report)}")


def pytest_collectreport(report):
    if report.skipped:
        _skipped.append(f"{report.nodeid}: {_reason(report)}")


def _reason(report) -> str:
    return report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)


def _no_skip() -> bool:
    return os.environ.get("HPO_TESTS_NO_SKIP", "") not in ("", "0")


def pytest_sessionfinish(session, exitstatus):
    """HPO_TESTS_NO_SKIP=1: a run that skipped a test is a failed run (exit status 1)."""
    if _no_skip() and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _no_skip() and _skipped:
        terminalreporter.section("HPO_TESTS_NO_SKIP=1: skipped tests fail this run", red=True)
        for line in _skipped:
            terminalreporter.line(line, red=True)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray, started once; its address lets subprocesses join it."""
    import ray

    from raytune_hpo._ray.session import init_ray

    init_ray(num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


_cpus_taken_for_good = [0.0]  # by a test that already failed for it: not blamed on the next ones


@pytest.fixture(autouse=True)
def cluster_left_free(request):
    """A test that used the shared Ray hands every CPU back: a CPU left taken (an actor kept
    alive, a placement group or a raylet lease never returned) would make every later
    whole-cluster experiment wait forever, and be blamed for it."""
    yield
    if "ray_cluster" not in request.fixturenames:
        return
    import ray

    total = ray.cluster_resources()["CPU"] - _cpus_taken_for_good[0]
    free = free_cpus(total, wait_s=30)
    if free < total:
        _cpus_taken_for_good[0] += total - free
        groups = [g["bundles"] for g in ray.util.placement_group_table().values() if g["state"] != "REMOVED"]
        pytest.fail(f"{total - free:g} CPU still taken 30 s after the test; placement groups left: {groups}")


@pytest.fixture
def storage(tmp_path):
    return str(tmp_path / "runs")
