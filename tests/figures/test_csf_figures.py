"""probe-csf's figures, read from their plotly JSON: the cycles/degree axis from the run's own field of
view, human curves only where their source describes them, axes that hold every trace, the legend
below the plot, and threshold intervals and step-like brackets drawn as such."""

import dataclasses
import math
from functools import cache

import pytest
import torch

from bilin.analysis.frequency import band_pass
from bilin.csf.human import HUMAN_CSFS
from bilin.csf.measure import LayerCSF, image_degrees
from bilin.csf.psychophysics import Fit, bisection, threshold75, weibull
from bilin.csf.sweep import CsfSweep
from bilin.figures.csf import BRACKET_TRACE, THRESHOLD_TRACE, csf_figure, psychometric_figure

SFS = [1.0, 2.0, 4.0, 8.0, 16.0]


@cache
def fitted() -> tuple:
    """A simulated observer's staircases at SFS (band-pass: lowest threshold at 4 cycles/image) and, to
    keep the test fast, its true Weibull as the fit, with a ±20% interval around the threshold."""
    alpha = torch.tensor([0.08, 0.03, 0.02, 0.05, 0.2], dtype=torch.float64)
    beta, lapse = torch.full_like(alpha, 3.0), torch.full_like(alpha, 0.02)
    generator = torch.Generator().manual_seed(0)

    def observer(contrast, active):
        p = weibull(contrast.double(), alpha, beta, lapse)
        return torch.binomial(torch.full_like(p, 50.0), p, generator=generator)

    stair = bisection(observer, len(SFS), trials=50, max_steps=8)
    threshold, nan = threshold75(alpha, beta, lapse), torch.full_like(alpha, math.nan)
    boot = threshold * torch.exp(0.1 * torch.randn(20, len(SFS), generator=generator, dtype=torch.float64))
    step = torch.zeros(len(SFS), dtype=torch.bool)
    fit = Fit(alpha, beta, lapse, threshold, threshold / 1.2, threshold * 1.2, boot, step, nan, nan)
    return stair, fit


def with_steps(fit: Fit, brackets: dict[int, tuple[float, float]]) -> Fit:
    """The fit with the frequencies in `brackets` made step-like, their thresholds only bracketed."""
    step = torch.zeros(len(SFS), dtype=torch.bool)
    low, high = torch.full((len(SFS),), math.nan, dtype=torch.float64), torch.full_like(fit.threshold, math.nan)
    for i, (a, b) in brackets.items():
        step[i], low[i], high[i] = True, a, b
    nan = torch.full_like(low, math.nan)
    return dataclasses.replace(
        fit,
        threshold=torch.where(step, nan, fit.threshold),
        ci_low=torch.where(step, nan, fit.ci_low),
        ci_high=torch.where(step, nan, fit.ci_high),
        step_like=step,
        bracket_low=low,
        bracket_high=high,
    )


def layer(size: int = 32, degrees: float | None = None, colour: str = "lum", brackets: dict | None = None) -> LayerCSF:
    stair, fit = fitted()
    fit = with_steps(fit, brackets or {})
    shape = band_pass(torch.tensor(SFS, dtype=torch.float64), 1 / fit.estimate)
    deg = image_degrees(size) if degrees is None else degrees
    return LayerCSF("layer2", SFS, deg, None, None, stair, fit, shape, [2.0, 8.0], [1.0, 2.0], colour, None, size)


def sweep(colours=("lum",), human=True, **kwargs) -> CsfSweep:
    return CsfSweep([layer(colour=c, **kwargs) for c in colours], with_human=human)


def drawn(fig):
    """Every trace with y values."""
    return [t for t in fig.data if t.y is not None and len(t.y)]


@pytest.mark.parametrize(
    ("size", "degrees", "title"),
    [(32, None, "cycles/degree (32 px = 0.29°)"), (28, None, "cycles/degree (28 px = 0.25°)"),
     (224, None, "cycles/degree (224 px = 2°)"), (32, 5.0, "cycles/degree (32 px = 5°)")],
)  # fmt: skip
def test_top_axis_is_the_runs_field_of_view(size, degrees, title):
    fig = csf_figure(sweep(size=size, degrees=degrees), "CSF")
    top, bottom = fig.layout.xaxis2, fig.layout.xaxis
    assert top.title.text == title
    deg = image_degrees(size) if degrees is None else degrees
    assert top.range == pytest.approx([v - math.log10(deg) for v in bottom.range])  # cycles/image / degrees


@pytest.mark.parametrize("degrees", [0.05, image_degrees(32), 2.0, 8.0])
def test_human_curves_only_where_their_source_describes_them(degrees):
    s = sweep(colours=("lum", "rg", "yb"), degrees=degrees)
    fig = csf_figure(s, "CSF")
    humans = {t.name: t for t in fig.data if t.name and t.name.startswith("human")}
    assert set(humans) == {f"human {c}" for c in s.colours if c not in s.human_left_out}
    for name, trace in humans.items():
        low, high = HUMAN_CSFS[name.split()[1]].cpd_range
        cpd = [x / degrees for x in trace.x]
        assert low * (1 - 1e-9) <= min(cpd) and max(cpd) <= high * (1 + 1e-9)
        assert min(SFS) * (1 - 1e-9) <= min(trace.x) and max(trace.x) <= max(SFS) * (1 + 1e-9)
        assert len(name) <= 10  # short label; its source is in the subtitle
        assert HUMAN_CSFS[name.split()[1]].source in fig.layout.title.subtitle.text


def test_a_human_curve_with_no_overlap_is_left_out_and_said():
    fig = csf_figure(sweep(colours=("lum", "rg"), degrees=200.0), "CSF")  # 0.005-0.08 cycles/degree
    assert not [t for t in fig.data if t.name and t.name.startswith("human")]
    subtitle = fig.layout.title.subtitle.text
    assert "human lum left out: its source covers 0.5-35.9 cycles/degree" in subtitle
    assert "human rg left out: its source covers 0.1-10 cycles/degree" in subtitle


@pytest.mark.parametrize("degrees", [None, 2.0, 20.0])
@pytest.mark.parametrize("human", [True, False])
def test_y_axis_holds_every_trace_and_has_enough_ticks(degrees, human):
    fig = csf_figure(sweep(colours=("lum", "rg"), human=human, degrees=degrees, brackets={4: (0.3, math.inf)}), "C")
    low, high = (10**v for v in fig.layout.yaxis.range)
    values = [v for t in drawn(fig) for v in t.y if v is not None and v > 0 and math.isfinite(v)]
    assert values and low <= min(values) and max(values) <= high
    assert len(fig.layout.yaxis.tickvals) >= 3
    assert all(low <= v <= high for v in fig.layout.yaxis.tickvals)


def test_legend_is_below_the_plot_and_horizontal():
    fig = csf_figure(sweep(colours=("lum", "rg", "yb"), degrees=2.0), "CSF")
    legend = fig.layout.legend
    assert legend.orientation == "h" and legend.y < 0 and legend.yanchor == "top"
    assert fig.layout.margin.b >= 85  # room for it under the x axis title


def test_psychometric_figure_draws_each_interval_and_each_bracket():
    brackets = {0: (0.04, 0.06), 3: (0.5, math.inf)}  # closed; open (at chance at every level)
    measured = layer(brackets=brackets)
    fig = psychometric_figure(measured, "Fits")
    axis_of = {f"x{i + 1}" if i else "x": i for i in range(len(SFS))}
    by_panel = {i: [t for t in fig.data if axis_of[t.xaxis or "x"] == i] for i in range(len(SFS))}
    fit = measured.fit
    for i in range(len(SFS)):
        names = [t.name for t in by_panel[i]]
        if i in brackets:
            assert THRESHOLD_TRACE not in names and "Weibull fit" not in names
            (bracket,) = [t for t in by_panel[i] if t.name == BRACKET_TRACE]
            low, high = brackets[i]
            assert bracket.x[0] == pytest.approx(low)
            if math.isinf(high):  # open: drawn to the axis' edge, ending in an arrowhead
                right_edge = 10 ** fig.layout.xaxis.range[1]
                assert bracket.x[1] == pytest.approx(right_edge) and bracket.marker.symbol[1] == "triangle-right"
            else:
                assert bracket.x[1] == pytest.approx(high)
            assert fig.layout.annotations[i].text.endswith("step-like")
        else:
            (interval,) = [t for t in by_panel[i] if t.name == THRESHOLD_TRACE]
            assert list(interval.x) == pytest.approx(
                [float(fit.ci_low[i]), float(fit.threshold[i]), float(fit.ci_high[i])]
            )
            assert set(interval.y) == {0.75} and BRACKET_TRACE not in names
    assert "no fitted threshold where step-like" in fig.layout.title.subtitle.text


def test_csf_marks_step_like_points_open_with_their_bracket():
    s = sweep(brackets={0: (0.04, 0.06), 4: (0.3, math.inf)})
    fig = csf_figure(s, "CSF")
    drawn, key = (t for t in fig.data if t.name == "layer2")
    assert list(drawn.marker.symbol) == ["circle-open", "circle", "circle", "circle", "circle-open"]
    assert key.marker.symbol == "circle" and key.showlegend is not False and drawn.showlegend is False  # legend: filled
    assert any(t.name == "open: only bracketed" for t in fig.data)  # said in the legend
    (bars,) = [t for t in fig.data if t.name == f"layer2: {BRACKET_TRACE}"]
    curve = s.curves()["layer2"]
    scale = 1 / 0.04 / curve["high"][0].item()  # the max-normalisation
    assert list(bars.x) == [1.0, 16.0] and list(bars.y) == pytest.approx([curve["y"][0].item(), curve["y"][4].item()])
    assert bars.error_y.array[0] == pytest.approx(1 / 0.04 / scale - bars.y[0])  # the bracket, in sensitivity
    assert bars.error_y.arrayminus[0] == pytest.approx(bars.y[0] - 1 / 0.06 / scale)
    assert bars.error_y.arrayminus[1] == pytest.approx(bars.y[1] - 1 / 0.3 / scale)  # open: no bar, an arrow down
    (arrow,) = fig.layout.annotations  # the open bracket: sensitivity at most the value drawn
    y = s.curves()["layer2"]["y"][4].item()
    assert arrow.showarrow and arrow.x == pytest.approx(math.log10(16)) and arrow.ay == pytest.approx(math.log10(y))
    assert arrow.y < arrow.ay
    assert "step-like" in fig.layout.title.subtitle.text


def test_psychometric_axes_hold_every_interval_trial_and_bracket():
    """A fit past contrast 1 (a shallow slope), an open bracket: each panel's axes still show all of it."""
    measured = layer(brackets={3: (0.5, math.inf)})
    fit = measured.fit
    far = dataclasses.replace(
        fit,
        threshold=fit.threshold.index_fill(0, torch.tensor([4]), 2.0),
        ci_high=fit.ci_high.index_fill(0, torch.tensor([4]), 10.0),
    )
    fig = psychometric_figure(dataclasses.replace(measured, fit=far), "Fits")
    x_low, x_high = (10**v for v in fig.layout.xaxis.range)
    y_low, y_high = fig.layout.yaxis.range
    for trace in (t for t in fig.data if t.name != "Weibull fit"):  # a curve may run past the axes
        assert all(x_low * 0.999 <= x <= x_high * 1.001 for x in trace.x), trace.name
        assert all(y_low <= y <= y_high for y in trace.y), trace.name
    assert x_high > 10 and any(shape.x0 == 1.0 for shape in fig.layout.shapes)  # contrast 1 marked
    assert "extrapolates" in fig.layout.title.subtitle.text


def test_an_unreached_threshold_is_titled_and_drawn_as_a_bracket_from_the_highest_contrast():
    stair, fit = fitted()
    unreached = torch.zeros(len(SFS), dtype=torch.bool)
    unreached[2] = True
    fit = with_steps(fit, {2: (0.9, math.inf)})
    fit = dataclasses.replace(fit, step_like=torch.zeros_like(unreached), unreached=unreached)
    shape = band_pass(torch.tensor(SFS, dtype=torch.float64), 1 / fit.estimate)
    measured = LayerCSF("layer2", SFS, 1.0, None, None, stair, fit, shape, [2.0, 8.0], [1.0, 2.0], "lum", None, 32)
    fig = psychometric_figure(measured, "Fits")
    titles = [a.text for a in fig.layout.annotations]
    assert titles[2].endswith(": not reached") and not any(t.endswith("step-like") for t in titles)
    (bracket,) = [t for t in fig.data if t.name == BRACKET_TRACE]
    assert bracket.x[0] == pytest.approx(0.9)
    assert "not reached" in fig.layout.title.subtitle.text
    csf = csf_figure(CsfSweep([measured], with_human=False), "CSF")
    (curve,) = [t for t in csf.data if t.name == "layer2" and t.showlegend is False and t.mode == "lines+markers"]
    assert curve.marker.symbol[2].endswith("-open") and not curve.marker.symbol[1].endswith("-open")
    assert any(t.name == "open: only bracketed" for t in csf.data)
