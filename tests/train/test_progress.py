"""Long work is never silent when stderr is not a terminal (a log, a batch job), and quiet is quiet."""

from __future__ import annotations

import io

from rich.console import Console

from bilin.train import progress
from bilin.train.records import EpochMetrics


def metrics(epoch: int) -> EpochMetrics:
    return EpochMetrics(epoch, 0.5, 0.8, 0.6, 0.75, 1.25)


def test_epochs_print_a_line_each_on_a_non_terminal(capsys):
    assert not progress.interactive()  # pytest captures stderr: not a terminal
    with progress.epoch_progress("bilinear mnist d=16", 3, 0, quiet=False) as report:
        for epoch in (1, 2, 3):
            report(metrics(epoch))
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 3 and captured.out == ""
    assert lines[1].startswith("bilinear mnist d=16, epoch 2/3: train loss 0.5000 acc 80.00%")


def test_quiet_epochs_keep_their_stdout_lines(capsys):
    with progress.epoch_progress("x", 2, 0, quiet=True) as report:
        report(metrics(1))
    captured = capsys.readouterr()
    assert captured.out.startswith("epoch 1: train loss") and captured.err == ""


def test_steps_print_a_line_per_tenth_and_per_phase(capsys):
    with progress.step_progress(200, quiet=False) as steps:
        for phase in ("featvis result", "featvis ladder"):
            steps.phase(phase)
            for _ in range(100):
                steps.advance()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "featvis result: step 0/200" and lines[-1] == "featvis ladder: step 200/200"
    assert "featvis result: step 20/200" in lines and "featvis ladder: step 120/200" in lines
    assert len(lines) == 2 + 10


def test_quiet_steps_print_nothing(capsys):
    with progress.step_progress(50, quiet=True) as steps:
        steps.phase("probe layer1")
        for _ in range(50):
            steps.advance()
    assert capsys.readouterr() == ("", "")


def test_cache_updates_print_each_new_line_once_unless_quiet():
    for quiet, expected in ((False, ["d=8 x2: epoch 1/2", "d=8 x2: epoch 2/2"]), (True, [])):
        out = io.StringIO()
        console = Console(file=out, quiet=quiet)  # a file: not a terminal
        with progress.status_updates(console, "training") as update:
            for text in ("d=8 x2: epoch 1/2", "d=8 x2: epoch 1/2", "d=8 x2: epoch 2/2"):
                update(text)
        assert out.getvalue().splitlines() == expected
