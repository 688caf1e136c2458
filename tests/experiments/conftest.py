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
