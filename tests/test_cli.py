"""The ``raytune-hpo`` command."""

from __future__ import annotations

import subprocess

import raytune_hpo as hpo


def test_list_names_every_searcher_and_scheduler_with_one_line_each():
    done = subprocess.run(["raytune-hpo", "list"], capture_output=True, text=True)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    for name in list(hpo.SEARCHERS) + list(hpo.SCHEDULERS):
        assert any(line.split()[0] == name for line in lines if line.startswith("  ")), name
    assert any(line.split()[0] == "bohb" and "needs scheduler bohb or hyperband" in line for line in lines)


def test_unknown_command_exits_2():
    done = subprocess.run(["raytune-hpo", "fly"], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice: 'fly'" in done.stderr
