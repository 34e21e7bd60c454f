"""`bilin compare`'s figures: one heatmap of every pair per measure, and the measures against the exact one."""

from __future__ import annotations

import math

import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bilin.analysis.compare_grid import METHODS, REFERENCE, ModelComparison
from bilin.figures.style import DIVERGING, PLOT_SIZE, TEXT_SIZE, TICK_SIZE, finish, signed, text_width

SIGNED = ("exact_data_centred", "exact_data", "exact_gaussian_centred", "exact_gaussian", "weight_cosine")  # in [-1, 1]
SCATTERED = ("eigen", "cka", "weight_cosine")  # plotted against REFERENCE
MAX_WRITTEN = 12  # models up to which each cell's value is written in it
MODEL_KEY = "n = training noise, d = hidden size, s = seed"


def heatmap(comparison: ModelComparison, method: str, subtitle: str) -> go.Figure:
    """Every pair's value of one measure; models in (noise, size, seed) order, blank where it has none."""
    matrix = comparison.scores()[method].tolist()
    labels = [m.label() for m in comparison.models]
    n = len(labels)
    signed_scale = method in SIGNED
    written = n <= MAX_WRITTEN
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale=DIVERGING if signed_scale else "Viridis",
            zmin=-1 if signed_scale else 0,
            zmax=1,
            text=[["" if math.isnan(v) else signed(v) for v in row] for row in matrix] if written else None,
            texttemplate="%{text}" if written else None,
            textfont={"size": TICK_SIZE},
            colorbar={"title": {"text": "similarity", "font": {"size": TEXT_SIZE}}},
            hovertemplate="%{y}<br>%{x}<br>%{z:.4f}<extra></extra>",
        )
    )
    label_room = int(max(text_width(label, TICK_SIZE) for label in labels)) + 20
    fig.update_layout(
        yaxis={"autorange": "reversed", "type": "category", "scaleanchor": "x", "showgrid": False},
        xaxis={"type": "category", "constrain": "domain", "tickangle": -90, "showgrid": False},
    )
    cell = 58 if written else max(16, 640 // n)
    side = cell * n
    return finish(
        fig,
        f"Every pair of models: {METHODS[method]}",
        (side + label_room + 120, side + label_room + 150),
        subtitle=subtitle,
        margin={"l": label_room, "b": label_room},
    )


def scatter(comparison: ModelComparison, subtitle: str) -> go.Figure:
    """Each other measure against the exact one over the pairs of distinct models, coloured by what the two
    models differ in; each panel's title gives the two measures' Spearman correlation over those pairs."""
    pairs = comparison.pairs(diagonal=False)
    scores = comparison.pair_scores()
    kinds = [comparison.models[a].differs(comparison.models[b]) for a, b in pairs]
    order = list(dict.fromkeys(sorted(kinds, key=lambda k: (k.count("+"), k))))
    colours = dict(zip(order, plotly.colors.qualitative.D3, strict=False))
    rho = {(r["method_a"], r["method_b"]): r["spearman"] for r in comparison.rank_agreement()}
    titles = [f"{METHODS[m]}<br>{_spearman(rho[(REFERENCE, m)])}" for m in SCATTERED]
    fig = make_subplots(rows=1, cols=len(SCATTERED), subplot_titles=titles, horizontal_spacing=0.08)
    for col, method in enumerate(SCATTERED, start=1):
        for kind in order:
            chosen = [i for i, k in enumerate(kinds) if k == kind and math.isfinite(scores[method][i])]
            fig.add_trace(
                go.Scatter(
                    x=[scores[REFERENCE][i] for i in chosen],
                    y=[scores[method][i] for i in chosen],
                    mode="markers",
                    marker={"size": 7, "color": colours[kind], "opacity": 0.8},
                    name=f"differ in {kind}",
                    legendgroup=kind,
                    showlegend=col == 1,
                    text=[
                        f"{comparison.models[pairs[i][0]].label()} vs {comparison.models[pairs[i][1]].label()}"
                        for i in chosen
                    ],
                    hovertemplate="%{text}<br>%{x:.4f}, %{y:.4f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_yaxes(title_text=METHODS[method], row=1, col=col)
        fig.update_xaxes(title_text=METHODS[REFERENCE], row=1, col=col)
    fig.update_layout(legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0, "xanchor": "left"})
    return finish(fig, "Each measure against the exact functional similarity", (3 * PLOT_SIZE[0] // 2 + 200, 560),
                  subtitle=subtitle, margin={"b": 140})  # fmt: skip


def _spearman(rho: float | None) -> str:
    return "Spearman ρ: too few pairs" if rho is None else f"Spearman ρ = {signed(rho)}"


def compare_figures(comparison: ModelComparison, setting: str) -> dict[str, go.Figure]:
    """compare_<method> heatmaps and compare_scatter; `setting` (data, epochs) heads every subtitle."""
    notes = {"weight_cosine": "<br>blank: models of different sizes, whose weights have no common coordinates"}
    figures = {
        f"compare_{method}": heatmap(comparison, method, f"{setting}; {MODEL_KEY}{notes.get(method, '')}")
        for method in METHODS
    }
    figures["compare_scatter"] = scatter(
        comparison, f"{setting}; each dot a pair of distinct models; CKA over {comparison.cka_samples} test images"
    )
    return figures
