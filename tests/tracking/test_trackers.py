"""The tracker registry: each tracker's library missing is one line naming the extra that
installs it (the library's absence made real for the test by ``sys.modules[name] = None``, which
makes Python's import fail as it does where the package is not installed), and the export of an
Optuna study says the same."""

from __future__ import annotations

import pytest

from raytune_hpo.errors import ConfigError
from raytune_hpo.tracking import TRACKERS, check_tracking

REQUIRED = {"optuna": {"journal": "study.log"}}


@pytest.mark.parametrize("name", list(TRACKERS))
def test_a_missing_library_is_one_line_naming_the_extra(monkeypatch, name):
    tracker = TRACKERS[name]
    monkeypatch.setitem(__import__("sys").modules, tracker.module, None)
    with pytest.raises(ConfigError) as refused:
        check_tracking("tracking", {name: REQUIRED.get(name, {})})
    assert str(refused.value) == (
        f"tracking.{name} needs the {tracker.module} package: pip install 'raytune-hpo[{tracker.extra}]'"
    )


def test_the_optuna_export_without_optuna_names_its_extra(monkeypatch, tmp_path):
    from raytune_hpo.tracking._optuna_study import export_study

    monkeypatch.setitem(__import__("sys").modules, "optuna", None)
    with pytest.raises(ConfigError, match=r"^the Optuna study export needs the optuna package: "
                                          r"pip install 'raytune-hpo\[dashboard\]'$"):
        export_study(None, str(tmp_path / "j.log"))  # type: ignore[arg-type]  # refused before it is read


def test_journal_paths_are_made_absolute_so_a_resume_elsewhere_writes_the_same_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    checked = check_tracking("tracking", {"optuna": {"journal": "study.log"}})
    assert checked == {"optuna": {"journal": str(tmp_path / "study.log"), "study": None}}
