"""The report's pages as text: what the index and a run page show, without running the CLI."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import pytest

from bilin.report.pages import Explorer, explorers_list, page, run_body, runs_table, shown_number
from bilin.report.runs import read_run
from bilin.report.site import describe_model


def png(width: int, height: int) -> bytes:
    """A valid grey PNG of this size (its header is what the page reads)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
def run_folder(tmp_path) -> Path:
    run = tmp_path / "outputs" / "train" / "2026-12-04" / "17-51-35"
    (run / "figures").mkdir(parents=True)
    (run / "run.json").write_text(
        json.dumps({"status": "complete", "started": "2026-12-04T17:51:37+00:00", "command": "bilin train"})
    )
    (run / ".hydra").mkdir()
    (run / ".hydra" / "hydra.yaml").write_text("hydra:\n  job:\n    name: train\n")
    (run / ".hydra" / "config.yaml").write_text("seed: 3\n")
    (run / "figures" / "wide.json").write_text("{}")
    (run / "figures" / "wide.png").write_bytes(png(3200, 20))
    (run / "model.json").write_text(
        json.dumps({"kind": "bilinear", "d_input": 784, "d_hidden": 32, "d_output": 10, "dataset": "mnist"})
    )
    return run


def test_the_index_has_no_link_to_itself_and_other_pages_link_to_it():
    assert "all runs" not in page("bilin runs", "", depth=0)
    assert '<a href="../index.html">all runs</a>' in page("a run", "", depth=1)


def test_names_and_dates_in_the_runs_table_stay_on_one_line(run_folder, tmp_path):
    run = read_run(run_folder)
    table = runs_table([run], tmp_path, {run.path: tmp_path / "runs" / "r.html"}, {})
    cells = re.findall(r'<td class="name">([^<]*)</td>', table)
    assert "train" in cells and "2026-12-04 17:51:37" in cells
    css = (Path(__file__).parents[2] / "bilin" / "report" / "assets" / "report.css").read_text()
    assert re.search(r"td\.name\s*\{[^}]*white-space:\s*nowrap", css)


def test_an_explorer_link_names_the_run_date_time_and_model(run_folder, tmp_path):
    made_by, about = describe_model(run_folder, read_run(run_folder))
    assert made_by == "train 2026-12-04 17:51:37"
    assert about == "bilinear d=32, mnist, seed 3"
    listed = explorers_list([Explorer(run_folder, tmp_path / "x.html", 10**6, made_by=made_by, about=about)], tmp_path)
    link = re.search(r'<a href="x.html">([^<]*)</a>', listed)
    assert link and link.group(1) == "train 2026-12-04 17:51:37"
    assert "bilinear d=32, mnist, seed 3" in listed


def test_a_figure_is_shown_at_its_own_width_and_opens_full_size(run_folder, tmp_path):
    body = run_body(read_run(run_folder), tmp_path, [], {})
    image = re.search(r'<a href="([^"]+)"><img class="figure" src="([^"]+)" width="(\d+)"', body)
    assert image, body
    assert image.group(1) == image.group(2) and image.group(1).endswith("figures/wide.png")  # the click: the PNG
    assert int(image.group(3)) == 1600  # the figure's own size (bilin writes PNGs at twice it)
    css = (Path(__file__).parents[2] / "bilin" / "report" / "assets" / "report.css").read_text()
    rule = re.search(r"img\.figure\s*\{([^}]*)\}", css).group(1)
    assert "900px" not in rule and "max-width: 100%" in rule


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("0.30000000000000004", "0.3"),
        ("0.5375674152998037", "0.5376"),
        ("-1.2345678e-05", "-1.235e-05"),
        ("123456.789", "123457"),
        ("98.21", "98.21"),
        ("nan", "nan"),
        ("7", None),  # integers and text as written
        ("[0, 1]", None),
        ("bilinear", None),
    ],
)
def test_numbers_in_csv_tables_are_shown_to_four_significant_digits(cell, shown):
    assert shown_number(cell) == shown


def test_a_csv_table_shows_short_numbers_and_keeps_the_exact_value(run_folder, tmp_path):
    rows = [["k", "accuracy"], ["1", "0.5375674152998037"]]
    body = run_body(read_run(run_folder), tmp_path, [], {"t.csv": rows})
    assert '<td class="num" title="0.5375674152998037">0.5376</td>' in body
    assert "<td>1</td>" in body
