"""`bilin diff`'s figures draw exactly the numbers its CSVs hold."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import pytest

from bilin.analysis.model_diff import model_diff
from bilin.figures.diff import diff_figures
from tests.analysis.test_model_diff import LAWS, model

COMPONENTS = 3


@pytest.mark.parametrize("bias", [False, True])
def test_the_share_lines_and_the_image_titles_are_the_tables_numbers(bias):
    diff = model_diff(model(0, bias=bias), model(1, d=4), LAWS, ["a", "b", "c"], COMPONENTS)
    figures = diff_figures(diff, (1, 4, 4), "A = x, B = y", "mnist")
    rows = {(r["class"], r["law"]): r for r in diff.tables()["diff.csv"]}
    lines = [t for t in figures["diff_share"].data if isinstance(t, go.Scatter)]
    assert len(lines) == len(LAWS) * (3 + 1)  # a line per class and one for all classes, per law
    for i, line in enumerate(lines):
        law = LAWS[i // 4].name
        name = ["a", "b", "c", "all"][i % 4]
        expected = [rows[(name, law)][f"share_k{k}"] for k in range(1, COMPONENTS + 1)]
        assert list(line.y) == pytest.approx(expected) and list(line.x) == [1, 2, 3]
    spectrum = [r for r in diff.tables()["diff_spectrum.csv"] if r["rank"] <= COMPONENTS]
    titles = [a.text for a in figures["diff_directions"].layout.annotations if a.text.startswith("#")]
    assert len(titles) == 3 * COMPONENTS
    for title, row in zip(titles, spectrum, strict=True):
        assert title.startswith(f"#{row['rank']}: λ=") and "-" not in title
        assert float(title.split("=")[1].replace("−", "-")) == pytest.approx(row["eigenvalue"], abs=5e-4)
    heatmaps = [t for t in figures["diff_directions"].data if isinstance(t, go.Heatmap)]
    assert len(heatmaps) == 3 * COMPONENTS and all(len(h.z) == 4 and len(h.z[0]) == 4 for h in heatmaps)
    assert all(math.isfinite(v) for h in heatmaps for row in h.z for v in row)
