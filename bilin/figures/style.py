"""The one rule for the size, fonts and axes of every figure bilin writes.

- Fonts: one family (FONT_FAMILY), TITLE_SIZE (18 px) for the figure title, TEXT_SIZE (13 px)
  for the subtitle, axis titles, legend, subplot titles and row labels, TICK_SIZE (12 px) for tick
  labels and values written on the plot. PNGs are exported at scale 2 (RunDir), so a 13 px label
  is legible when a figure is shrunk to a column.
- Size: a single plot is PLOT_SIZE (820 x 480 px); grids of images are CELL px per image plus the
  margins; every figure is at least as wide as its title, subtitle and row labels need (estimated
  from the text length at its font size), so no text is clipped.
- Titles say what is shown; settings, how a band was made and sign conventions go in the subtitle.
- Images keep square pixels and carry no axis line, tick, grid or zero line.
- Log axes have ticks at 1, 2 and 5 times the powers of ten (only the powers of ten when that
  would give more than MAX_LOG_TICKS), labelled with full numbers: 0.02, never "2" or 2e-2.
- Negative numbers written on a figure use the minus sign "−" (U+2212), as plotly's axes and colour
  bars do (signed()); ranks are counted from #1 (the largest), as in the explorer.
- Bars start at zero (a bar's length is its value). Panels showing the same quantity share their
  y range. Bands are pale fills edged by a dotted line (band_trace), drawn under every mean line.
- Eigenvector images use DIVERGING: blue positive, red negative, white at 0 (the paper's Figure 2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import plotly.colors
import plotly.graph_objects as go

FONT_FAMILY = "Liberation Sans, Arial, Helvetica, sans-serif"
TITLE_SIZE, TEXT_SIZE, TICK_SIZE = 18, 13, 12
PLOT_SIZE = (820, 480)
CELL = 120  # px per image in a grid of images
MAX_LOG_TICKS = 8
# ColorBrewer RdBu written out, red at the low end and blue at the high end (plotly's named
# "RdBu" differs between plotly.py and plotly.js, so the name alone is not trusted)
DIVERGING = [
    [0.0, "rgb(178,24,43)"],
    [0.25, "rgb(244,165,130)"],
    [0.5, "rgb(247,247,247)"],
    [0.75, "rgb(146,197,222)"],
    [1.0, "rgb(33,102,172)"],
]
POSITIVE, NEGATIVE = "rgb(33,102,172)", "rgb(178,24,43)"  # bars and markers: same meaning as the images
_CHAR = 0.58  # average glyph width / font size of a sans-serif font, a little generous


def text_width(text: str, size: float = TEXT_SIZE) -> float:
    """Estimated width in px of text, its longest <br>-separated line (plotly does not wrap or
    shrink titles)."""
    return max(len(line) for line in text.split("<br>")) * size * _CHAR


def top_margin(title: str = "", subtitle: str = "") -> int:
    """Room above the plot for each line of the title and of the subtitle."""
    return 70 + 22 * title.count("<br>") + (20 * (subtitle.count("<br>") + 1) + 5 if subtitle else 0)


def finish(
    fig: go.Figure,
    title: str,
    size: tuple[int, int] = PLOT_SIZE,
    subtitle: str = "",
    margin: dict | None = None,
) -> go.Figure:
    """Title, fonts, white template, margins and size by the rule above; widened to fit the title."""
    headed = any(a.yref == "paper" and (a.y or 0) > 0.98 for a in fig.layout.annotations)  # top-row subplot titles
    width, height = size
    margin = {"l": 70, "r": 30, "t": top_margin(title, subtitle) + (25 if headed else 0), "b": 60, **(margin or {})}
    needed = max(text_width(title, TITLE_SIZE), text_width(subtitle)) + 40
    fig.update_layout(
        title={
            "text": title,
            "x": 0,
            "xref": "paper",
            "y": 1 - 20 / height,  # pinned 20 px below the top, the subtitle under it
            "yanchor": "top",
            "font": {"size": TITLE_SIZE},
            "subtitle": {"text": subtitle, "font": {"size": TEXT_SIZE}},
        },
        font={"family": FONT_FAMILY, "size": TEXT_SIZE},
        legend_title_font_size=TEXT_SIZE,
        template="plotly_white",
        width=int(max(width, needed + margin["l"] + margin["r"])),
        height=int(height),
        margin=margin,
    )
    fig.update_xaxes(tickfont_size=TICK_SIZE, title_font_size=TEXT_SIZE)
    fig.update_yaxes(tickfont_size=TICK_SIZE, title_font_size=TEXT_SIZE)
    fig.update_annotations(font_size=TEXT_SIZE)  # subplot titles are annotations
    return fig


def signed(value: float, decimals: int = 2) -> str:
    """value with `decimals` decimals and the minus sign U+2212 (as plotly's colour bars write it),
    never a hyphen: signed(-0.094) == "−0.09"."""
    text = f"{value:.{decimals}f}"
    if float(text) == 0:  # -0.001 -> "0.00", not "−0.00"
        return text.lstrip("-")
    return "−" + text[1:] if text.startswith("-") else text


def plural(count: float, noun: str) -> str:
    """ "1 component", "3 components"."""
    return f"{count:g} {noun}" + ("" if count == 1 else "s")


BAND_ALPHA = 0.1  # light enough that two overlapping bands stay pale, never a muddy brown


def band_trace(x: Sequence[float], low: Sequence[float], high: Sequence[float], colour: str, group: str) -> go.Scatter:
    """A confidence band: a pale fill between low and high, edged by a thin dotted line of its own
    colour, so a band stays visible where others cover it. Draw every band before the mean lines."""
    r, g, b = plotly.colors.unlabel_rgb(plotly.colors.convert_colors_to_same_type(colour, "rgb")[0][0])
    return go.Scatter(
        x=list(x) + list(x)[::-1],
        y=list(high) + list(low)[::-1],
        fill="toself",
        fillcolor=f"rgba({r:g},{g:g},{b:g},{BAND_ALPHA})",
        mode="lines",
        line={"color": colour, "width": 1, "dash": "dot"},
        hoverinfo="skip",
        showlegend=False,
        legendgroup=group,
    )


def full_number(value: float) -> str:
    """0.002 -> "0.002", 20 -> "20": every digit written out, no exponent."""
    if value >= 1:
        return f"{value:.0f}" if value == round(value) else f"{value:g}"
    decimals = -math.floor(math.log10(value) + 1e-9)
    return f"{value:.{decimals}f}"


def log_ticks(low: float, high: float, max_ticks: int = MAX_LOG_TICKS) -> tuple[list[float], list[str]]:
    """Tick values in [low, high] (both > 0) at 1-2-5 x 10^n, or 10^n alone if those are too many."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas in ((1, 2, 5), (1,)):
        values = [m * 10.0**e for e in range(first, last + 1) for m in mantissas]
        values = [float(f"{v:.12g}") for v in values if low * (1 - 1e-9) <= v <= high * (1 + 1e-9)]
        if len(values) <= max_ticks:
            break
    return values, [full_number(v) for v in values]


def log_axis(values: Iterable[float], max_ticks: int = MAX_LOG_TICKS, pad: float = 1.15, min_ticks: int = 2) -> dict:
    """A log axis spanning the positive values (padded by the factor pad), ticked by log_ticks with at
    least min_ticks labels (a narrow span is widened to the neighbouring 1-2-5 values until it has)."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    low, high = (min(positive), max(positive)) if positive else (0.1, 1.0)
    low, high = low / pad, high * pad
    tickvals, ticktext = log_ticks(low, high, max_ticks)
    while len(tickvals) < min(min_ticks, max_ticks):
        low, high = min(low, _step(low, -1)), max(high, _step(high, 1))
        tickvals, ticktext = log_ticks(low, high, max_ticks)
    return {
        "type": "log",
        "range": [math.log10(low), math.log10(high)],
        "tickvals": tickvals,
        "ticktext": ticktext,
    }


def _step(value: float, direction: int) -> float:
    """The 1-2-5 value just below (direction -1) or above (+1) value."""
    e = math.floor(math.log10(value))
    ladder = [m * 10.0**k for k in (e - 1, e, e + 1) for m in (1, 2, 5)]
    return max(v for v in ladder if v < value) if direction < 0 else min(v for v in ladder if v > value)


def image_axes(fig: go.Figure, row: int | None = None, col: int | None = None) -> None:
    """Square pixels and no axis decoration on the image subplot at (row, col) (all if None)."""
    bare = {"showticklabels": False, "showgrid": False, "zeroline": False, "showline": False, "ticks": ""}
    if row is None:
        fig.update_xaxes(**bare, constrain="domain")
        fig.update_yaxes(**bare, constrain="domain")
        fig.for_each_yaxis(lambda axis: axis.update(scaleanchor=axis.anchor))
        return
    fig.update_xaxes(**bare, constrain="domain", row=row, col=col)
    anchor = fig.get_subplot(row, col).yaxis.anchor
    fig.update_yaxes(**bare, constrain="domain", scaleanchor=anchor, row=row, col=col)


def add_row_labels(fig: go.Figure, row_labels: Sequence[str] | None) -> int:
    """Horizontal labels left of each row of subplots, as wide as the longest needs; returns the left
    margin they take (20 px without labels)."""
    if not row_labels:
        return 20
    for r, label in enumerate(row_labels):
        domain = fig.get_subplot(r + 1, 1).yaxis.domain
        fig.add_annotation(
            text=label, x=0, xref="paper", xanchor="right", xshift=-10, y=sum(domain) / 2, yref="paper",
            showarrow=False, font_size=TEXT_SIZE,
        )  # fmt: skip
    return int(max(text_width(label) for label in row_labels)) + 30
