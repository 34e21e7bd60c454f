"""The `bilin` script's prompt exit (bilin.cli.app.run): the output is whole and the exit status kept,
and a profiler attached to the process still gets to write its results."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import run_bilin


def test_the_output_is_flushed_and_the_status_kept(tmp_path):
    listed = run_bilin(["--help"], tmp_path)
    assert listed.returncode == 0 and "train" in listed.stdout and listed.stdout.rstrip().endswith("─╯")
    wrong = run_bilin(["train", "epochs=zero"], tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.startswith("bilin: error:")


def test_a_profiler_still_writes_its_results(tmp_path):
    profile = tmp_path / "help.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "bilin", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert profile.stat().st_size > 0
