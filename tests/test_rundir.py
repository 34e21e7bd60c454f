"""RunDir's CSV tables: numbers as a person would write them, without float32 noise."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from bilin.running.figure_page import PLOTLY_JS, page_finds_plotly
from bilin.running.folder import RunDir, csv_number


def as_float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def test_a_float32_value_is_written_as_its_shortest_decimal(tmp_path):
    accuracy = torch.tensor(0.89, dtype=torch.float32).item()  # 0.8899999856948853
    assert accuracy != 0.89
    RunDir(tmp_path).write_csv("t.csv", [{"epoch": 1, "val_acc": accuracy, "name": "bilinear"}])
    assert (tmp_path / "t.csv").read_text() == "epoch,val_acc,name\n1,0.89,bilinear\n"


@pytest.mark.parametrize(
    "value,written",
    [
        (0.1 + 0.2, "0.30000000000000004"),  # float64: exact, as Python writes it
        (2 / 3, "0.6666666666666666"),
        (1.0, "1.0"),
        (0.5, "0.5"),
        (float(np.float32(1e-7)), "1e-07"),
        (float(np.float32(98.21)), "98.21"),
        (float(np.float32(123456.78)), "123456.78"),
        (1e300, "1e+300"),  # beyond float32's range: left alone
        (float("nan"), "nan"),
    ],
)
def test_float64_stays_exact_and_float32_loses_its_noise(value, written):
    assert str(csv_number(value)) == written


def test_every_float32_of_a_tensor_reads_back_exactly(tmp_path):
    values = torch.randn(2000, generator=torch.Generator().manual_seed(0)).mul(10.0 ** torch.arange(2000).remainder(9))
    rows = [{"v": v} for v in values.tolist()]
    RunDir(tmp_path).write_csv("t.csv", rows)
    with (tmp_path / "t.csv").open() as f:
        cells = [row["v"] for row in csv.DictReader(f)]
    assert [as_float32(float(c)) for c in cells] == values.tolist()
    assert max(len(significant_digits(c)) for c in cells) <= 9  # never float64's 17


def significant_digits(cell: str) -> str:
    return cell.split("e")[0].replace("-", "").replace(".", "").strip("0")


def test_non_numbers_pass_through(tmp_path):
    RunDir(tmp_path).write_csv("t.csv", [{"a": True, "b": None, "c": 7, "d": "x,y"}])
    assert (tmp_path / "t.csv").read_text() == 'a,b,c,d\nTrue,,7,"x,y"\n'


def run_under(root: Path, name: str) -> RunDir:
    """A run folder as Hydra makes one: <outputs_root>/train/DATE/<name>, its config naming the root."""
    run = RunDir(root / "train" / "2026-12-04" / name)
    run.write_text(".hydra/config.yaml", f"outputs_root: {root}\nseed: 0\n")
    return run


def figure() -> go.Figure:
    return go.Figure(go.Bar(y=[1, 2]), layout={"title": {"text": "Accuracy <b>per class</b>"}})


def test_runs_of_one_outputs_root_share_one_plotly_js(tmp_path, monkeypatch):
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "")
    root = tmp_path / "outputs"
    for name in ("10-00-00", "10-00-01"):
        assert run_under(root, name).write_figures({"accuracy": figure()}) is None
    assert [p.relative_to(root).as_posix() for p in root.rglob(PLOTLY_JS)] == [PLOTLY_JS]
    page = root / "train" / "2026-12-04" / "10-00-00" / "figures" / "accuracy.html"
    assert '<script src="../../../../plotly.min.js"></script>' in page.read_text()
    assert page_finds_plotly(page)


def test_a_run_outside_an_outputs_root_keeps_its_own_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "")
    RunDir(tmp_path / "run").write_figures({"accuracy": figure()})
    assert (tmp_path / "run" / "figures" / PLOTLY_JS).stat().st_size > 1_000_000
    assert page_finds_plotly(tmp_path / "run" / "figures" / "accuracy.html")


def test_a_run_moved_alone_gets_its_copy_back_from_repair(tmp_path, monkeypatch):
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "")
    run_under(tmp_path / "outputs", "10-00-00").write_figures({"accuracy": figure()})
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(tmp_path / "outputs" / "train" / "2026-12-04" / "10-00-00", moved)
    page = moved / "figures" / "accuracy.html"
    assert not page_finds_plotly(page)
    assert "static image" in page.read_text() and "bilin export-figures" in page.read_text()  # what it says then
    assert RunDir(moved).repair_plotly_js()
    assert page_finds_plotly(page) and not RunDir(moved).repair_plotly_js()


def test_a_figure_page_is_titled_by_its_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "")
    RunDir(tmp_path / "run").write_figures({"accuracy": figure(), "bare": go.Figure()})
    title = lambda name: re.search(r"<title>(.*)</title>", (tmp_path / "run" / "figures" / f"{name}.html").read_text())  # noqa: E731
    assert title("accuracy").group(1) == "Accuracy per class (accuracy)"
    assert title("bare").group(1) == "bare"


def test_a_figure_page_escapes_hostile_folder_names_and_titles():
    """The plotly.js paths come from folder names (the outputs root) and reach a src attribute and a
    document.write string: neither may end the attribute, the string or the script."""
    from bilin.running.figure_page import figure_page

    hostile = 'x"></script><script>alert(1)</script>'
    fig = go.Figure(layout={"title": {"text": "</title><script>alert(2)</script>"}})
    page = figure_page(fig, "fig", [f"../{hostile}/{PLOTLY_JS}", f"../{hostile}'\\/{PLOTLY_JS}"])
    assert "<script>alert" not in page and "</script><script>" not in page.replace("</script>\n<script>", "")
    assert page.count("<script") == page.count("</script>")  # no tag opened or closed by a value
    loaders = re.findall(r'<script src="([^"]*)"></script>|document\.write\((".*?")\);', page)
    first, written = loaders[0][0], json.loads(loaders[1][1])  # the attribute; the JS string, decoded
    assert html.unescape(first) == f"../{hostile}/{PLOTLY_JS}"
    assert written == f'<script src="{html.escape(f"../{hostile}" + chr(39) + chr(92) + f"/{PLOTLY_JS}")}"></script>'
    assert re.search(r"<title>(.*)</title>", page).group(1) == "alert(2) (fig)"  # the title's tags dropped
