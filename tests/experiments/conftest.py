"""Shared by the experiment tests: a training function's reports, captured without Ray."""

from __future__ import annotations

import pytest

import raytune_hpo


@pytest.fixture
def reports(monkeypatch) -> list[dict]:
    """What ``hpo.report`` receives while a test calls ``train`` by hand: each report's
    metrics with its ``checkpoint`` (None where it saved none)."""
    captured: list[dict] = []
    monkeypatch.setattr(
        raytune_hpo, "report",
        lambda checkpoint=None, **metrics: captured.append({**metrics, "checkpoint": checkpoint}),
    )
    return captured


@pytest.fixture
def reports_passed_on(monkeypatch) -> list[dict]:
    """As ``reports``, but each report also goes on to the real ``hpo.report``, as when a user
    calls ``train`` by hand to debug it: outside a trial that does nothing (and must not raise)."""
    real = raytune_hpo.report
    captured: list[dict] = []

    def report(checkpoint=None, **metrics):
        captured.append({**metrics, "checkpoint": checkpoint})
        return real(checkpoint=checkpoint, **metrics)

    monkeypatch.setattr(raytune_hpo, "report", report)
    return captured
