"""`bilin export-figures` with no static format asked for: refused in one line before it touches the run
(it would otherwise restore plotly.js into a moved run folder and then have nothing to export)."""

from __future__ import annotations

import shutil

import pytest

from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import TINY_ARGS, only_run_dir
from tests.redteam.harness import snapshot

pytestmark = pytest.mark.slow  # bilin runs in a subprocess


@pytest.mark.parametrize("formats", ["", " , "])
def test_no_static_formats_is_refused_before_the_run_is_touched(bilin_cli, tmp_path, formats):
    assert bilin_cli("train", *TINY_ARGS).returncode == 0
    moved = tmp_path / "moved"  # away from its outputs root: its pages lack plotly.js, a repair would write one
    shutil.move(only_run_dir(tmp_path / "outputs" / "train"), moved)
    before = snapshot(moved, ())
    result = bilin_cli("export-figures", str(moved), env={"BILIN_FIGURE_FORMATS": formats})
    assert_clean_failure(result, "BILIN_FIGURE_FORMATS is empty", tmp_path)
    assert snapshot(moved, ()) == before
    assert not (moved / "figures" / "plotly.min.js").exists()
