"""The run lifecycle's endings, driven directly: a signal whose raise the code it landed in wrapped
(an import turns it into a RuntimeError) still ends the run `interrupted`, with the signal's exit code."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bilin.errors import Interrupted
from bilin.running.command import Command, CommandResult
from bilin.running.lifecycle import execute


def run_with(tmp_path, fault):
    def run(_cfg, _ctx):
        raise fault()

    folder = tmp_path / "run"
    folder.mkdir()
    command = Command(name="fake", summary="a command that fails", main=run)
    return folder, command, SimpleNamespace(quiet=True, device="cpu")


def wrapped_interrupt() -> Exception:
    try:
        try:
            raise Interrupted("stopped by SIGTERM; fake did not finish", "SIGTERM")
        except Interrupted as signal_raise:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from signal_raise
    except RuntimeError as wrapped:
        return wrapped


def test_a_signal_raise_wrapped_by_an_import_still_ends_the_run_interrupted(tmp_path, capsys):
    folder, command, cfg = run_with(tmp_path, wrapped_interrupt)
    with pytest.raises(SystemExit) as ended:
        execute(command, cfg, folder)
    assert ended.value.code == 143
    assert capsys.readouterr().err.strip() == "bilin: error: stopped by SIGTERM; fake did not finish"
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"


def test_a_fault_without_a_signal_keeps_its_traceback_and_fails_the_run(tmp_path):
    folder, command, cfg = run_with(tmp_path, lambda: ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        execute(command, cfg, folder)
    assert json.loads((folder / "run.json").read_text())["status"] == "failed"


def test_a_results_dict_field_adds_to_what_the_run_recorded_as_it_went(tmp_path):
    """decompose records the images that signed its vectors; the cache recorded its own data first, and keeps it."""

    def run(_cfg, ctx):
        ctx.record["data"] = {"mnist": {"root": "the cache's"}}  # as ctx.cached_models records it
        return CommandResult(record={"data": {"fmnist": {"root": "read"}, "mnist": {"root": "read"}}, "source": "x"})

    folder = tmp_path / "run"
    folder.mkdir()
    execute(Command(name="fake", summary="records data", main=run), SimpleNamespace(quiet=True, device="cpu"), folder)
    record = json.loads((folder / "run.json").read_text())
    assert record["data"] == {"mnist": {"root": "the cache's"}, "fmnist": {"root": "read"}}
    assert record["source"] == "x" and record["status"] == "complete"


def test_a_command_that_ends_early_keeps_what_it_has_so_far(tmp_path, capsys):
    """ctx.end_early: the result so far is written (run.json fields, headline, tables), then the run ends
    with the error: an interrupted training keeps its curves and its resume hint."""
    from bilin.running.command import CommandResult

    def run(_cfg, ctx):
        so_far = CommandResult(
            tables={"metrics.csv": [{"epoch": 1}]}, headline={"val_acc": 0.5}, record={"resume": "hint"}
        )
        ctx.end_early(so_far, Interrupted("stopped by SIGINT after epoch 1", "SIGINT"))

    folder, _, cfg = run_with(tmp_path, lambda: None)
    with pytest.raises(SystemExit) as ended:
        execute(Command(name="fake", summary="a command stopped part-way", main=run), cfg, folder)
    assert ended.value.code == 130
    assert capsys.readouterr().err.strip() == "bilin: error: stopped by SIGINT after epoch 1"
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "interrupted" and record["resume"] == "hint" and record["headline"] == {"val_acc": 0.5}
    assert (folder / "metrics.csv").read_text() == "epoch\n1\n"
