"""The report's names, its folder's manifest and its escaping, without a run or a browser (fast)."""

from __future__ import annotations

import itertools
import json
from importlib.resources import files
from pathlib import Path

import pytest

from bilin.errors import UserError
from bilin.report.folder import MANIFEST, ReportFolder, check_out
from bilin.report.names import path_name
from bilin.report.safe import csp_meta, script_json

TRICKY = ["x", "y", "x__y", "y__r1", "_", "__", "a_", "_a", "a_b", "%5F", "%", "~", "é", "<a>", "r1", "..", "a b"]


def test_page_names_are_one_per_path():
    paths = [p for n in (1, 2, 3) for p in itertools.product(TRICKY, repeat=n)]
    names = {path_name(p, ".html") for p in paths}
    assert len(names) == len(paths)
    assert path_name(("x__y", "r1"), "") != path_name(("x", "y__r1"), "")
    assert path_name(("train", "2026-01-01", "10-00-00"), ".html") == "train__2026-01-01__10-00-00.html"


def test_long_names_stay_short_and_distinct():
    long = ("a" * 150, "b" * 150)
    name = path_name(long, ".html")
    assert len(name.encode()) <= 255 and name != path_name(("a" * 150, "b" * 149), ".html")


def test_names_hold_no_path_or_markup():
    for part in TRICKY:
        name = path_name((part, '<img src=x onerror="alert(1)">'), ".html")
        assert not set("/<>\"' ") & set(name), name


def test_out_must_not_overlap_a_scanned_folder(tmp_path: Path):
    outputs = tmp_path / "outputs"
    (outputs / "train").mkdir(parents=True)
    check_out(outputs / "report", [outputs])  # the default place
    check_out(outputs / "train" / "report", [outputs, outputs / "train"])
    check_out(tmp_path / "site", [outputs])
    for out, fragment in [
        (outputs / "train", "inside the scanned folder"),
        (outputs / "site", "inside the scanned folder"),
        (outputs, "holds the scanned folder"),
        (tmp_path, "holds the scanned folder"),
    ]:
        with pytest.raises(UserError, match=fragment):
            check_out(out, [outputs])


def test_manifest_decides_what_is_replaced_and_deleted(tmp_path: Path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "mine.html").write_text("the user's")
    first = ReportFolder(tmp_path)
    first.write_text("runs/a.html", "a")
    first.write_text("runs/b.html", "b")
    first.finish()
    assert set(json.loads((tmp_path / MANIFEST).read_text())["files"]) == {"runs/a.html", "runs/b.html"}
    (tmp_path / "runs" / "b.html").write_text("edited since")  # changed after the report wrote it
    second = ReportFolder(tmp_path)
    with pytest.raises(UserError, match="not written by bilin report"):
        second.claim(["runs/mine.html"])
    second.write_text("runs/c.html", "c")
    assert second.finish() == ["runs/a.html"]  # b was changed by someone: not ours to delete any more
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["b.html", "c.html", "mine.html"]


def test_a_manifest_cannot_lead_out_of_the_folder(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    (tmp_path / "victim.txt").write_text("x")
    entries = {"../victim.txt": "", "/etc/passwd": "", "a/../../victim.txt": ""}
    (site / MANIFEST).write_text(json.dumps({"format": "bilin-report/1", "files": entries}))
    folder = ReportFolder(site)
    assert MANIFEST in folder.listed and len(folder.listed) == 1
    with pytest.raises(UserError, match="outside the report folder"):
        folder.write_text("../victim.txt", "y")
    folder.finish()
    assert (tmp_path / "victim.txt").read_text() == "x"


def test_json_in_a_script_block_cannot_end_it():
    text = json.dumps({"a": "</script><!--<script>&\u2028"}, ensure_ascii=False)
    safe = script_json(text)
    assert "<" not in safe and ">" not in safe and "&" not in safe and json.loads(safe) == json.loads(text)


def test_pages_allow_only_their_own_scripts():
    script_src = csp_meta(["x"]).split("script-src ")[1].split(";")[0]
    assert script_src.startswith("'self' 'sha256-") and "unsafe" not in script_src
    assets = files("bilin.report") / "assets"
    for name in ("explorer.js", "table.js", "sweep.js", "explorer.html"):
        text = (assets / name).read_text()
        assert "innerHTML" not in text and "eval(" not in text, name
