"""OpenMP's idle spinning limited for the bilin script's process (bilin.running.omp_spin): set before
torch loads libgomp, which reads it once; a policy the user chose is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

import bilin.cli
from bilin.running import omp_spin


@pytest.fixture
def no_policy(monkeypatch):
    """Neither variable set, and both as they were afterwards (set first, so that monkeypatch records them)."""
    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_the_spin_count_is_set_when_none_was_chosen(no_policy):
    omp_spin.limit_spinning()
    assert os.environ["GOMP_SPINCOUNT"] == omp_spin.SPIN_COUNT


@pytest.mark.parametrize("chosen", [{"GOMP_SPINCOUNT": "300000"}, {"OMP_WAIT_POLICY": "ACTIVE"}])
def test_a_policy_the_user_chose_is_kept(no_policy, monkeypatch, chosen):
    for name, value in chosen.items():
        monkeypatch.setenv(name, value)
    omp_spin.limit_spinning()
    assert {k: os.environ.get(k) for k in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")} == {
        "GOMP_SPINCOUNT": None,
        "OMP_WAIT_POLICY": None,
        **chosen,
    }


def test_the_script_limits_it_before_it_imports_the_cli(no_policy, monkeypatch):
    seen = []
    fake_app = SimpleNamespace(run=lambda: seen.append(os.environ.get("GOMP_SPINCOUNT")))
    monkeypatch.setitem(sys.modules, "bilin.cli.app", fake_app)
    bilin.cli.run()
    assert seen == [omp_spin.SPIN_COUNT]


def test_torch_is_not_loaded_before_the_script_sets_it():
    """libgomp comes with torch and reads GOMP_SPINCOUNT when it loads: nothing the script imports
    before limit_spinning may import torch."""
    code = "import sys, bilin.cli, bilin.running.omp_spin, bilin.running.startup_gc; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
