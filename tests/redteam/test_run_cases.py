"""Red-team cases for what every run shares: figures that cannot be rendered never fail a finished
run nor leave a half-written file (fault 5), and every run records its precision (fault 10)."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TINY_ARGS, run_bilin
from tests.redteam.harness import Case, run_case

pytestmark = pytest.mark.slow
BROKEN_BROWSER = {"BROWSER_PATH": "{w}/broken-chromium", "BILIN_FIGURE_FORMATS": "png,svg"}


def broken_browser(world: Path) -> None:
    """A 'browser' that dies at start: kaleido fails every figure, as on a machine out of memory."""
    script = world / "broken-chromium"
    script.write_text("#!/bin/sh\nexit 1\n")
    script.chmod(0o755)


def trained_run(world: Path) -> None:
    broken_browser(world)
    result = run_bilin(["train", *TINY_ARGS, f"hydra.run.dir={world / 'done'}"], world)  # BILIN_DATA: the test's
    assert result.returncode == 0, result.stderr


def record(world: Path, run: str = "run") -> dict:
    return json.loads((world / run / "run.json").read_text())


def finished_with_a_figures_note(world: Path, result: subprocess.CompletedProcess) -> None:
    run = record(world)
    assert run["status"] == "complete" and "error" not in run
    note = run["figures_note"]
    assert note.startswith("4 of 4 static figures could not be rendered") and "browser" in note
    assert note.endswith(f"retry with: bilin export-figures {world / 'run'}")
    figures = sorted(p.name for p in (world / "run" / "figures").iterdir())
    assert not [f for f in figures if f.endswith((".png", ".svg")) or f.startswith(".")]  # nothing half-written
    assert {"training_curves.html", "per_class_accuracy.json"} <= set(figures)
    assert (world / "run" / "model.safetensors").is_file()


def recorded_precision(requested: str):
    def check(world: Path, result: subprocess.CompletedProcess) -> None:
        import torch

        from bilin.device import resolve_precision

        run = record(world)
        assert run["precision_requested"] == requested
        assert run["precision"] == resolve_precision(requested, torch.device("cpu"))

    return check


CASES = [
    Case(
        "train-figures-fail-run-completes",
        5,
        ("train", *TINY_ARGS, "hydra.run.dir={w}/run"),
        own=("run",),
        setup=broken_browser,
        env=BROKEN_BROWSER,
        check=finished_with_a_figures_note,
    ),
    Case(
        "export-figures-fails-in-one-line",
        5,
        ("export-figures", "{w}/done"),
        error="static figures could not be rendered",
        own=("done/figures",),
        setup=trained_run,
        env=BROKEN_BROWSER,
    ),
    Case(
        "precision-fp32-recorded",
        10,
        ("train", *TINY_ARGS, "precision=fp32", "hydra.run.dir={w}/run"),
        own=("run",),
        check=recorded_precision("fp32"),
    ),
    Case(
        "precision-bf16-recorded",
        10,
        ("train", *TINY_ARGS, "precision=bf16", "hydra.run.dir={w}/run"),
        own=("run",),
        check=recorded_precision("bf16"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case, tmp_path: Path, tiny_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("BILIN_DATA", str(tiny_root))  # for the runs a case's setup trains
    world = tmp_path / "world"
    world.mkdir()
    run_case(case, world, tiny_root)
