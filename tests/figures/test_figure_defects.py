"""Issue 21's figure defects, each checked from the figure object (its plotly JSON): what is drawn
and how it is laid out."""

from types import SimpleNamespace

import plotly.graph_objects as go
import pytest
import torch

from bilin.analysis.decompose import Eigen, eigendecompose, explain
from bilin.analysis.feature_spectra import feature_spectra
from bilin.analysis.similarity import SimilarityGrid
from bilin.analysis.stats import t_band
from bilin.featvis.preflight import target_label
from bilin.figures import eigen as eigen_figs
from bilin.figures import featvis as featvis_figs
from bilin.figures.frequency import feature_spectra_figure, measures_vs_noise_figure
from bilin.figures.grid import accuracy_bars, similarity_figures, truncation_figures
from bilin.figures.style import plural, signed
from bilin.figures.training import per_class_bars, probe_training_curves, training_curves
from tests.analysis.test_decompose import tiny_bilinear
from tests.figures.test_figures import CLASSES, truncation_grid


def near_equal_eigen(model) -> Eigen:
    """The model's eigenvectors with eigenvalues that all round to ±0.01: labels alone cannot tell them apart."""
    eigen = eigendecompose(model)
    k = eigen.values.shape[1]
    steps = torch.arange(k, dtype=eigen.values.dtype) * 1e-4
    values = torch.where(torch.arange(k) < k // 2, -0.0101 - steps, 0.0101 + steps).flip(0).expand_as(eigen.values)
    return Eigen(values.contiguous(), eigen.vectors)


def test_explain_draws_one_bar_per_component_even_when_their_rounded_lambdas_agree():
    model = tiny_bilinear(inputs=16, d=16)
    eigen = near_equal_eigen(model)
    explanation = explain(model, eigen, torch.rand(16, generator=torch.Generator().manual_seed(0)))
    fig = eigen_figs.explanation_figure(explanation, "2", CLASSES, eigen, (4, 4), n_bars=12)
    bars = [t for t in fig.data if isinstance(t, go.Bar) and t.xaxis != "x2"]  # x2: the logits
    assert len(bars) == len(explanation.top_classes)
    for bar in bars:
        assert len(set(bar.x)) == len(bar.x) == 12  # keyed by rank: no two components share a bar
        assert all(key.startswith("#") and int(key[1:]) >= 1 for key in bar.x)
        axis = fig.layout["xaxis" + bar.xaxis[1:]]
        assert axis.type == "category" and list(axis.tickvals) == list(bar.x)
        assert all("λ=" in text for text in axis.ticktext)  # λ is shown, beside the rank
        assert any("λ=−0.01" in text for text in axis.ticktext) and not any("λ=-" in t for t in axis.ticktext)


def test_ranks_are_the_explorers_hash_one_for_the_largest_eigenvalue():
    values = torch.tensor([-0.5, 0.2, 0.9, 0.2])
    assert eigen_figs.spectrum_ranks(values) == [4, 2, 1, 3]  # ties keep eigh's order


def test_negative_numbers_use_the_minus_sign():
    assert signed(-0.094) == "−0.09" and signed(0.094) == "0.09" and signed(-0.001) == "0.00"
    model = tiny_bilinear(inputs=16)
    eigen = eigendecompose(model)
    fig = eigen_figs.spectrum_figure(eigen.vectors, eigen.values, 1, "1", (4, 4), n_values=5)
    texts = [a.text for a in fig.layout.annotations]
    assert any("λ=−" in t for t in texts) and not any("λ=-" in t for t in texts)
    top = eigen_figs.top_eigenvector_figure(-eigen.vectors, -eigen.values.flip(1), CLASSES, (4, 4), "t")
    assert not any("λ=-" in a.text for a in top.layout.annotations)


@pytest.mark.parametrize("accuracy", [[0.9, 0.95, 0.97, 0.99], [0.08, 0.1, 0.12, 0.2], [0.72, 0.8, 0.81, 0.9]])
def test_accuracy_bars_start_at_zero(accuracy):
    grouped = accuracy_bars(CLASSES, {"a": accuracy, "b": accuracy[::-1]}, "Per-class accuracy")
    single = per_class_bars(CLASSES, accuracy, "Validation accuracy per class")
    for fig in (grouped, single):
        low, high = fig.layout.yaxis.range
        assert low == 0 and high >= 100 * max(accuracy)


def test_ranks_count_from_one_in_every_figure():
    model = tiny_bilinear(inputs=16)
    eigen = eigendecompose(model)
    spectrum = eigen_figs.spectrum_figure(eigen.vectors, eigen.values, 1, "1", (4, 4), n_values=5)
    assert [list(t.x) for t in spectrum.data if isinstance(t, go.Scatter)] == [[1, 2, 3, 4, 5]] * 2
    assert "#1" in spectrum.layout.xaxis.title.text
    centroid = [t for t in feature_spectra_figure(feature_spectra(eigen, 4), CLASSES, "t").data if t.xaxis == "x2"]
    assert all(t.x[0] == 1 for t in centroid)
    grid = SimilarityGrid([30, 50], 50, "top", {30: torch.rand(2, 4, 3)}, torch.tensor([[0.8, 0.7], [0.7, 0.9]]))
    figs = similarity_figures(grid)
    assert next(t for t in figs["similarity_vs_rank"].data if t.fill is None).x == (1, 2, 3)
    assert "#1" in figs["similarity_vs_rank"].layout.xaxis.title.text
    heat = figs["similarity_rank0_heatmap"].layout
    assert "rank-0" not in (heat.title.text + heat.title.subtitle.text).lower() and "#1" in heat.title.text


def test_counts_agree_with_their_noun():
    assert plural(1, "component") == "1 component" and plural(20, "component") == "20 components"
    assert f"{plural(1.0, 'cycle')}/image" == "1 cycle/image"
    eigen = eigendecompose(tiny_bilinear(inputs=16, d=3))  # fewer components than the figure's 20
    fig = feature_spectra_figure(feature_spectra(eigen, 4), CLASSES, "t")
    shown = len(next(t for t in fig.data if t.xaxis == "x2").x)
    assert any(a.text == f"spectral centroid, top {plural(shown, 'component')} by |λ|" for a in fig.layout.annotations)


def test_truncation_axes_carry_a_unit_and_whole_k_ticks():
    figs = truncation_figures(truncation_grid())
    for fig in figs.values():
        assert "(fraction" in fig.layout.yaxis.title.text
        assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis.tick0 == 0


def bands(seed: int, centre: float) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "weights": t_band(centre + torch.randn(3, 4, generator=g, dtype=torch.float64)),
        "probe": t_band(2 * centre + torch.randn(3, 4, generator=g, dtype=torch.float64)),
    }


def test_frequency_panels_of_one_quantity_share_y_and_no_band_hides_another():
    rows = {"CSF peak": {"MNIST": bands(0, 2.0), "Fashion-MNIST": bands(1, 6.0)}, "centroid": {"MNIST": bands(2, 4)}}
    fig = measures_vs_noise_figure([0, 0.2, 0.4, 0.6], rows, "t", "s")
    by_axis: dict[str, list] = {}
    for trace in fig.data:
        by_axis.setdefault(trace.yaxis, []).append(trace)
    assert fig.layout.yaxis2.matches == "y"  # MNIST and Fashion-MNIST's peaks: one range
    for traces in by_axis.values():
        kinds = ["band" if t.fill == "toself" else "mean" for t in traces]
        assert kinds == sorted(kinds)  # every band before every mean line: none is covered
        for band in (t for t in traces if t.fill == "toself"):
            alpha = float(band.fillcolor.rsplit(",", 1)[1].rstrip(")"))
            assert alpha <= 0.15 and band.line.width > 0 and band.opacity is None  # pale fill, visible edge


def test_featvis_beside_eigenvectors_draws_images_grey_and_eigenvectors_signed():
    featvis = torch.rand(2, 16, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    u = torch.randn(2, 16)
    fig = featvis_figs.featvis_vs_eigenvectors(featvis, u, -u, ["0", "1"], (4, 4), "t")
    grey, signed_scale = fig.layout.coloraxis2, fig.layout.coloraxis
    assert (grey.cmin, grey.cmax) == (0, 1) and grey.colorscale[0][1] == "rgb(0,0,0)"
    assert (signed_scale.cmin, signed_scale.cmid, signed_scale.cmax) == (-1, 0, 1)
    drawn = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert [t.coloraxis for t in drawn] == ["coloraxis2"] * 2 + ["coloraxis"] * 4
    torch.testing.assert_close(torch.tensor(drawn[0].z), featvis[0].view(4, 4).flip(0), atol=1 / 255, rtol=0)
    assert "[x; 1]" not in fig.layout.title.subtitle.text
    biased = featvis_figs.featvis_vs_eigenvectors(featvis, u, -u, ["0", "1"], (4, 4), "t", constant=True)
    assert "each eigenvector lives in [x; 1], its image part is drawn" in biased.layout.title.subtitle.text


def test_featvis_grid_of_one_image_per_target_fills_rows_with_framed_separated_tiles():
    images = torch.rand(7, 1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = [f"class {c}" for c in range(7)]
    fig = featvis_figs.featvis_grid(images, labels, "Feature visualisation")
    assert sum(isinstance(t, go.Image) for t in fig.data) == 7
    domains = sorted({tuple(fig.layout[f"xaxis{t.xaxis[1:]}"].domain) for t in fig.data})
    assert len(domains) == featvis_figs.MAX_COLS  # side by side, wrapping: not one narrow column
    assert all(a[1] < b[0] for a, b in zip(domains, domains[1:], strict=False))  # a gap between tiles
    width = fig.layout.width - fig.layout.margin.l - fig.layout.margin.r
    assert (domains[-1][1] - domains[0][0]) * width >= 0.8 * width  # the tiles fill the plot's width
    assert sorted(a.text for a in fig.layout.annotations) == labels  # one label per tile, each once
    for axis in fig.select_xaxes():
        assert axis.showline and axis.mirror  # a frame: white-edged tiles do not run into the page


def test_featvis_animation_keeps_the_grid_layout_and_shows_its_last_step():
    g = torch.Generator().manual_seed(0)
    frames = [(step, torch.rand(7, 1, 28, 28, generator=g)) for step in (0, 10, 20)]
    labels = [f"class {c}" for c in range(7)]
    fig = featvis_figs.animation_figure(frames, 1, labels, "Optimisation")
    still = featvis_figs.featvis_grid(frames[-1][1][:, None], labels, "Optimisation")
    assert [t.z.tolist() for t in fig.data] == [t.z.tolist() for t in still.data]  # the last step, 7 tiles
    assert len({fig.layout[f"xaxis{t.xaxis[1:]}"].domain for t in fig.data}) == featvis_figs.MAX_COLS
    assert all(list(frame.traces) == list(range(7)) and len(frame.data) == 7 for frame in fig.frames)
    slider = fig.layout.sliders[0]
    assert slider.steps[slider.active].label == "20"


def test_featvis_row_labels_name_a_class_once():
    classes = ["0", "1", "t-shirt/top"]
    target = lambda i: SimpleNamespace(kind="class", index=i, label=f"class {i}")  # noqa: E731
    assert [target_label(target(i), classes) for i in range(3)] == ["class 0", "class 1", "2: t-shirt/top"]


def test_training_figures_tick_whole_epochs_and_mark_guessing():
    rows = [
        {"layer": "layer2", "epoch": e, "accuracy": a, "normalised_loss": n}
        for e, a, n in [(1, 0.52, 8.6), (2, 0.62, 5.5)]
    ]
    fig = probe_training_curves(rows, ["layer2"], "Probe training")
    for axis in fig.select_xaxes():
        assert axis.dtick == 1 and axis.tickformat == "d"
    loss_axis = fig.layout.yaxis2
    assert "bits" in loss_axis.title.text and loss_axis.type == "log"
    assert {(s.yref, s.y0, s.y1) for s in fig.layout.shapes} == {("y", 50, 50), ("y2", 1, 1)}  # chance, 1 bit
    note = next(a for a in fig.layout.annotations if a.text == "guessing (1 bit)")
    assert (note.yref, note.y) == ("y2", 0)  # log10(1): a log axis places annotations by the exponent
    loss = next(t for t in fig.data if t.yaxis == "y2")
    assert list(loss.y) == [8.6, 5.5]  # the loss falls while accuracy rises: the axis says lower is better
    metrics = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1 / e, "train_acc": 0.9, "val_acc": 0.9} for e in (1, 2)]
    for axis in training_curves(metrics, "t").select_xaxes():
        assert axis.dtick == 1 and axis.tickformat == "d"
