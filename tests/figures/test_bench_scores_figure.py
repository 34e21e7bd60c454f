"""featvis-bench's score figure drawn from its summary: intervals only where there are models to
spread over, and axes with headroom."""

from __future__ import annotations

from bilin.analysis.bench_tables import method_means
from bilin.figures.featvis_bench import bench_scores_figure


def summary(seeds: tuple[int, ...]) -> list[dict]:
    rows = [
        {"model": "bilinear", "dataset": "mnist", "d_hidden": 8, "seed": s, "method": m, "class": c,
         "cos": 0.1 * c + 0.05 * s + (0.3 if m == "maco" else 0.0)}
        for s in seeds for m in ("pixel", "maco") for c in range(4)
    ]  # fmt: skip
    return method_means(rows, ["cos"])


def test_one_model_draws_no_error_bars_and_says_so():
    fig, plotted = bench_scores_figure(summary((0,)), ["pixel", "maco"], ["mnist"])
    bars = next(t for t in fig.data if t.type == "bar" and t.y)
    assert bars.error_y.visible is False
    assert "no interval: one model" in fig.layout.title.subtitle.text
    assert all(r["low"] == "" for r in plotted)  # the CSV beside it says the same
    assert fig.layout.yaxis.range[1] > max(bars.y)


def test_several_models_draw_their_interval():
    fig, _ = bench_scores_figure(summary((0, 1, 2)), ["pixel", "maco"], ["mnist"])
    bars = next(t for t in fig.data if t.type == "bar" and t.y)
    assert bars.error_y.visible is True and min(bars.error_y.array) > 0
    assert "interval over 3 models" in fig.layout.title.subtitle.text
    assert fig.layout.yaxis.range[1] > max(y + e for y, e in zip(bars.y, bars.error_y.array, strict=True))
