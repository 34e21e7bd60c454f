"""The collector paused while the bilin script starts a command (bilin.running.startup_gc): paused
before the CLI is imported, running again (what the start made frozen) before the command's work."""

from __future__ import annotations

import gc
import sys
from types import SimpleNamespace

import pytest

import bilin.cli
from bilin.running import startup_gc
from bilin.running.command import Command
from bilin.running.lifecycle import execute


@pytest.fixture
def collector():
    """The test process's collector as it was, afterwards: on, nothing frozen, no pause pending."""
    yield
    startup_gc._paused = False
    gc.unfreeze()
    gc.enable()


def test_resume_freezes_what_the_start_made_and_runs_the_collector_again(collector):
    startup_gc.pause()
    assert not gc.isenabled()
    before = gc.get_freeze_count()
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() > before
    frozen = gc.get_freeze_count()
    startup_gc.resume()  # once only: a later run of the process freezes nothing
    assert gc.get_freeze_count() == frozen


def test_without_a_pause_resume_changes_nothing(collector):
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # someone else's choice to run without the collector is theirs
    startup_gc.pause()
    startup_gc.resume()
    assert not gc.isenabled()


def test_the_script_pauses_the_collector_before_it_imports_the_cli(collector, monkeypatch):
    seen = []
    monkeypatch.setitem(sys.modules, "bilin.cli.app", SimpleNamespace(run=lambda: seen.append(gc.isenabled())))
    bilin.cli.run()
    assert seen == [False]


def test_the_command_works_with_the_collector_running(collector, tmp_path):
    seen = []

    def work(_cfg, _ctx):
        seen.append(gc.isenabled())

    startup_gc.pause()
    folder = tmp_path / "run"
    folder.mkdir()
    command = Command(name="fake", summary="records the collector", main=work)
    execute(command, SimpleNamespace(quiet=True, device="cpu"), folder)
    assert seen == [True] and gc.get_freeze_count() > 0


def test_a_plain_command_works_with_the_collector_running(collector, tmp_path):
    from typer.testing import CliRunner

    from bilin.cli.app import app

    (tmp_path / "cache").mkdir()
    startup_gc.pause()
    done = CliRunner().invoke(app, ["cache", "list", "--root", str(tmp_path / "cache")])
    assert "is not a model cache" in done.output  # the command's own check ran
    assert gc.isenabled() and gc.get_freeze_count() > 0
