"""`bilin compare`'s figures draw the numbers its tables hold, and follow the size rule."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import pytest

from bilin.analysis.compare_grid import METHODS, REFERENCE
from bilin.figures.compare import SCATTERED, compare_figures
from bilin.figures.style import TEXT_SIZE, TITLE_SIZE, text_width
from tests.analysis.test_model_compare import grid_comparison


@pytest.fixture(scope="module")
def comparison():
    return grid_comparison()


def test_a_heatmap_per_method_draws_every_pair_of_the_table(comparison):
    figures = compare_figures(comparison, "mnist, 2 epochs")
    assert set(figures) == {f"compare_{m}" for m in METHODS} | {"compare_scatter"}
    labels = [m.label() for m in comparison.models]
    rows = comparison.tables()["compare_pairs.csv"]
    for method in METHODS:
        heat = figures[f"compare_{method}"].data[0]
        assert list(heat.x) == labels and list(heat.y) == labels
        for row in rows:
            a = labels.index(f"n={row['noise_a']:g} d={row['size_a']} s={row['seed_a']}")
            b = labels.index(f"n={row['noise_b']:g} d={row['size_b']} s={row['seed_b']}")
            for i, j in ((a, b), (b, a)):
                drawn = heat.z[i][j]
                assert math.isnan(drawn) if row[method] is None else drawn == pytest.approx(row[method])
                assert (heat.text[i][j] == "") == (row[method] is None)


def test_the_scatter_draws_each_distinct_pair_once_against_the_exact_measure(comparison):
    fig = compare_figures(comparison, "mnist, 2 epochs")["compare_scatter"]
    scores = comparison.pair_scores()
    for col, method in enumerate(SCATTERED, start=1):
        axis = "x" if col == 1 else f"x{col}"
        points = sorted((x, y) for t in fig.data if t.xaxis == axis for x, y in zip(t.x, t.y, strict=True))
        expected = sorted((x, y) for x, y in zip(scores[REFERENCE], scores[method], strict=True) if not math.isnan(y))
        assert [v for p in points for v in p] == pytest.approx([v for p in expected for v in p])
    rho = {(r["method_a"], r["method_b"]): r["spearman"] for r in comparison.rank_agreement()}
    titles = [a.text for a in fig.layout.annotations]
    assert any(f"ρ = {rho[(REFERENCE, 'eigen')]:.2f}".replace("-", "−") in t for t in titles)


def test_titles_fit_their_figures(comparison):
    for name, fig in compare_figures(comparison, "mnist, 2 epochs").items():
        room = fig.layout.width - fig.layout.margin.l - fig.layout.margin.r
        assert text_width(fig.layout.title.text, TITLE_SIZE) <= room, name
        assert text_width(fig.layout.title.subtitle.text, TEXT_SIZE) <= room, name
        assert all(isinstance(t, (go.Heatmap, go.Scatter)) for t in fig.data)
