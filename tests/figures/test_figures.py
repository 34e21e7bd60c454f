"""The figure rules of bilin/figures/style.py, checked on figures built from tiny results."""

import dataclasses
import math
from functools import cache

import plotly.graph_objects as go
import pytest
import torch

from bilin.analysis.accuracy import Accuracy, AccuracyComparison
from bilin.analysis.decompose import eigendecompose, explain
from bilin.analysis.decomposition import explain_test_image
from bilin.analysis.truncate import TruncationGrid
from bilin.figures import eigen as eigen_figs
from bilin.figures.augment_grid import augment_grid_figures
from bilin.figures.decompose import decomposition_figures
from bilin.figures.grid import accuracy_bars, accuracy_figures, similarity_heatmap, truncation_figures
from bilin.figures.noise_sweep import noise_sweep_figures
from bilin.figures.style import DIVERGING, TEXT_SIZE, TITLE_SIZE, log_axis, log_ticks, text_width
from bilin.figures.training import per_class_bars, training_curves
from tests.analysis.test_augment_grid import augment_grid
from tests.analysis.test_decompose import tiny_bilinear
from tests.analysis.test_decomposition import decomposition
from tests.analysis.test_noise_sweep import labelled_images, sweep

CLASSES = [str(c) for c in range(4)]


def truncation_grid() -> TruncationGrid:
    accuracy = torch.tensor([[[0.1, 0.90, 0.97], [0.1, 0.60, 0.99]], [[0.1, 0.8, 0.98], [0.1, 0.85, 0.985]]])
    return TruncationGrid([30, 50], [0, 1], [0, 1, 2], accuracy, torch.tensor([[0.97, 0.99], [0.98, 0.985]]))


@cache
def all_figures() -> dict[str, go.Figure]:
    model = tiny_bilinear(inputs=16)  # 4 x 4 images
    eigen = eigendecompose(model)
    explanation = explain(model, eigen, torch.rand(16, generator=torch.Generator().manual_seed(0)))
    metrics = [{"epoch": e, "train_loss": 2 / e, "val_loss": 1.5 / e, "train_acc": 0.9, "val_acc": 0.9} for e in (1, 2)]
    return {
        **truncation_figures(truncation_grid()),
        "heatmap": similarity_heatmap([30, 50], torch.tensor([[0.8, 0.7], [0.7, 0.9]]), "Rank-0 similarity", "sub"),
        "bars": accuracy_bars(CLASSES, {"a": [0.9] * 4, "b": [0.95] * 4}, "Per-class accuracy"),
        "per_class": per_class_bars(CLASSES, [0.99, 0.995, 0.97, 0.98], "Validation accuracy per class"),
        "training": training_curves(metrics, "Training"),
        "grid": eigen_figs.image_grid(
            [eigen.vectors[0, k].view(4, 4) for k in range(6)],
            [f"k={k}" for k in range(6)],
            cols=3,
            title="Top eigenvector vs training input noise",
            row_labels=["Fashion-MNIST: t-shirt/top", "MNIST: 0"],
        ),
        "spectrum": eigen_figs.spectrum_figure(eigen.vectors, eigen.values, 1, "1", (4, 4), n_values=5),
        "explain": eigen_figs.explanation_figure(explanation, "2", CLASSES, eigen, (4, 4)),
        **{f"decompose_{name}": fig for name, fig in command_figures().items() if "class" not in name},
        **noise_sweep_figures(sweep(), d_hidden=8, epochs=2),
        **augment_grid_figures(augment_grid(), "0", d_hidden=8, epochs=2),
        **accuracy_figures(accuracy_comparison(), "d=8, 2 epochs"),
    }


@cache
def command_figures(every_part: bool = True) -> dict[str, go.Figure]:
    """decompose's figures of a tiny model (4 x 4 images, ten classes): with every part asked for, or none."""
    model, plain = decomposition()
    if not every_part:
        return decomposition_figures(plain)
    x, y = labelled_images(inputs=16, classes=10)
    explanation = explain_test_image(model, plain.eigen, x, y, 3)
    panel = {"mnist": plain.eigen, "fmnist": plain.eigen}
    return decomposition_figures(decomposition(input_space=plain.eigen, panel=panel, explanation=explanation)[1])


def accuracy_comparison() -> AccuracyComparison:
    comparison = AccuracyComparison()
    for model in ("bilinear", "relu"):
        comparison.add("mnist", [str(c) for c in range(10)], model, Accuracy(0.9, [0.9] * 10))
    return comparison


def test_decompose_draws_the_figures_of_the_parts_asked_for():
    every = list(command_figures())
    assert every[:2] == ["fig2_top_eigenvectors", "fig3_spectrum_class0"] and every[10:] == [
        "fig3_spectrum_class9",
        "frequency",
        "fig2_top_eigenvectors_input_space",
        "fig2_panel",
        "explain",
    ]
    assert list(command_figures(every_part=False)) == every[:12]
    explained = command_figures()["explain"]
    assert explained.layout.annotations[0].text == "input (label 3)"  # the test image's own class


def is_one_two_five(value: float) -> bool:
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return any(math.isclose(mantissa, m, rel_tol=1e-9) for m in (1, 2, 5))


@pytest.mark.parametrize(("low", "high"), [(1e-4, 1.0), (0.003, 0.9), (0.8, 1.3), (1, 224), (2e-3, 5e-3)])
def test_log_ticks_are_one_two_five_written_in_full(low, high):
    axis = log_axis([low, high])
    assert len(axis["tickvals"]) >= 2
    for value, text in zip(axis["tickvals"], axis["ticktext"], strict=True):
        assert is_one_two_five(value)
        assert "e" not in text and float(text) == pytest.approx(value)
        assert axis["range"][0] <= math.log10(value) <= axis["range"][1]


def test_log_ticks_fall_back_to_decades_when_crowded():
    values, text = log_ticks(1e-4, 1.0, max_ticks=8)
    assert text == ["0.0001", "0.001", "0.01", "0.1", "1"]
    assert log_ticks(0.01, 0.5)[1] == ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5"]


def test_every_log_axis_of_a_figure_follows_the_tick_rule():
    logs = 0
    for name, fig in all_figures().items():
        for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:
            if axis.type != "log":
                continue
            logs += 1
            assert axis.tickvals and all(is_one_two_five(v) for v in axis.tickvals), name
            assert all(float(t) == pytest.approx(v) for v, t in zip(axis.tickvals, axis.ticktext, strict=True)), name
    assert logs == 2  # the truncation error and the training loss


def test_titles_and_row_labels_fit_their_figure():
    for name, fig in all_figures().items():
        layout = fig.layout
        room = layout.width - layout.margin.l - layout.margin.r
        assert text_width(layout.title.text, TITLE_SIZE) <= room, name
        assert text_width(layout.title.subtitle.text or "", TEXT_SIZE) <= room, name
        assert layout.font.size == TEXT_SIZE, name
        for note in layout.annotations:
            if note.xanchor == "right" and note.x == 0:  # a row label, left of the plot
                assert text_width(note.text) + abs(note.xshift or 0) <= layout.margin.l, name


def test_images_have_square_pixels_and_no_axis_lines():
    for name in ("grid", "spectrum", "explain"):
        fig = all_figures()[name]
        for trace in fig.data:
            if not isinstance(trace, go.Heatmap):
                continue
            x_axis = fig.layout["xaxis" + trace.xaxis[1:]]
            y_axis = fig.layout["yaxis" + trace.yaxis[1:]]
            assert y_axis.scaleanchor == trace.xaxis, name
            for axis in (x_axis, y_axis):
                assert axis.showline is False and axis.zeroline is False and axis.showgrid is False, name
                assert axis.showticklabels is False, name


def rgb(colour: str) -> tuple[int, ...]:
    return tuple(int(v) for v in colour[colour.index("(") + 1 : -1].split(","))


def test_eigenvector_colours_are_blue_positive_red_negative():
    red, _, blue = rgb(DIVERGING[0][1]), rgb(DIVERGING[2][1]), rgb(DIVERGING[-1][1])
    assert DIVERGING[0][0] == 0 and DIVERGING[-1][0] == 1 and DIVERGING[2][0] == 0.5
    assert blue[2] > blue[0] and red[0] > red[2]
    fig = all_figures()["grid"]
    scale = fig.layout.coloraxis
    assert (scale.cmin, scale.cmid, scale.cmax) == (-1, 0, 1)
    assert rgb(scale.colorscale[-1][1]) == blue and rgb(scale.colorscale[0][1]) == red


def test_images_keep_the_eigenvector_sign():
    image = torch.tensor([[0.5, -2.0], [1.0, 0.0]])
    torch.testing.assert_close(eigen_figs.unit_scale(image), image / 2)  # the strongest pixel stays negative
    fig = eigen_figs.image_grid([image], ["u"], cols=1, title="t")
    assert fig.data[0].z[1][1] == -1.0  # flipped rows: plotly draws row 0 at the bottom


def test_band_drawn_is_the_band_in_the_csv_and_stays_in_range():
    grid = truncation_grid()
    fig = truncation_figures(grid)["truncation_drop"]
    rows = [r for r in grid.tables()["truncation_bands.csv"] if r["curve"] == "drop" and r["size"] == 30]
    band, mean = fig.data[0], next(t for t in fig.data if t.name == "d=30" and t.fill is None)
    n = len(grid.ks)
    assert list(band.y[:n]) == [r["high"] for r in rows]
    assert list(band.y[n:]) == [r["low"] for r in rows][::-1]
    assert list(mean.y) == [r["mean"] for r in rows]
    assert min(band.y) >= 0 and max(band.y) <= 1
    assert "clipped to [0, 1]" in fig.layout.title.subtitle.text


def test_value_labels_above_bars_are_not_clipped():
    trace = all_figures()["per_class"].data[0]
    assert trace.textposition == "outside" and trace.cliponaxis is False


def test_csf_figures_follow_the_tick_rule():
    from bilin.analysis.frequency import band_pass
    from bilin.csf.measure import LayerCSF, image_degrees
    from bilin.csf.psychophysics import bisection, fit_psychometric, weibull
    from bilin.csf.sweep import CsfSweep
    from bilin.figures.csf import csf_figure, psychometric_figure

    alpha = torch.tensor([0.05, 0.02, 0.2], dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)

    def observer(contrast, active):
        p = weibull(contrast.double(), alpha, torch.tensor(3.0, dtype=torch.float64), torch.tensor(0.02))
        return torch.binomial(torch.full_like(p, 50.0), p, generator=generator)

    stair = bisection(observer, 3, trials=50)
    fit = fit_psychometric(stair, 20)
    shape = band_pass(torch.tensor([2.0, 8.0, 56.0], dtype=torch.float64), 1 / fit.threshold)
    layer = LayerCSF("layer2", [2.0, 8.0, 56.0], image_degrees(224), None, None, stair, fit, shape, [4.0, 16.0], [1, 2])
    chromatic = dataclasses.replace(layer, colour="rg")
    sweep = CsfSweep([layer, chromatic], with_human=True)
    assert {n: c["source"] for n, c in sweep.curves().items() if c["human"]} == {
        "human lum": "75 f^0.8 e^(−0.2 f), Johnson & Fairchild 2003",
        "human rg": "Mullen 1985 fit, Johnson & Fairchild 2003",
    }
    for fig in (csf_figure(sweep, "CSF"), psychometric_figure(layer, "Fits")):
        logs = [a for a in [*fig.select_xaxes(), *fig.select_yaxes()] if a.type == "log"]
        assert logs
        for axis in logs:
            assert len(axis.tickvals) >= 2 and all(is_one_two_five(v) for v in axis.tickvals)
            assert all(float(t) == pytest.approx(v) for v, t in zip(axis.tickvals, axis.ticktext, strict=True))
