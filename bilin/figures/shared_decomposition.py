"""Figures of `bilin decompose method=hosvd|cp`: input factors / CP components as images, the class
weights as heatmaps, the energies, and the CP's cosine and accuracy against r."""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from bilin.analysis.shared_decomposition import SharedDecomposition
from bilin.data import DATASETS
from bilin.figures.eigen import image_grid
from bilin.figures.style import DIVERGING, PLOT_SIZE, TEXT_SIZE, TICK_SIZE, finish, log_axis, signed

SHOWN = 20  # factors / components drawn as images (every one is in the safetensors and the CSVs)
COLS = 10


def shared_figures(result: SharedDecomposition) -> dict[str, go.Figure]:
    title = DATASETS[result.dataset].title
    note = "blue +, red −; each factor signed so its largest coordinate is > 0"
    if result.constant:
        note += "; model with biases: the image part of each [x; 1] vector, its constant coordinate as '1:'"
    if result.hosvd is not None:
        return _hosvd_figures(result, title, note)
    return _cp_figures(result, title, note)


def _images(vectors: torch.Tensor, side: int, constant: bool) -> list[torch.Tensor]:
    return [(v[:-1] if constant else v).reshape(side, side) for v in vectors]


def _constant(vector: torch.Tensor, constant: bool) -> str:
    return f" 1: {signed(float(vector[-1]))}" if constant else ""


def _hosvd_figures(result: SharedDecomposition, title: str, note: str) -> dict[str, go.Figure]:
    h, classes = result.hosvd, result.classes
    factors = h.inputs.mT[:SHOWN]
    titles = [
        f"#{i + 1} {100 * float(h.input_energy[i]):.1f}%{_constant(v, h.constant)}" for i, v in enumerate(factors)
    ]
    figures = {
        "hosvd_input_factors": image_grid(
            _images(factors, result.side, h.constant),
            titles,
            min(COLS, len(titles)),
            f"{title}: HOSVD input factors (share of ||T||²)",
            subtitle=note,
        ),
        "hosvd_output_factors": _heatmap(
            h.output,
            list(classes),
            [f"#{k + 1} {100 * float(e):.1f}%" for k, e in enumerate(h.output_energy)],
            f"{title}: HOSVD output factors (columns; share of ||T||²)",
            "output component",
            "weight",
            "each column a unit vector over the classes, signed so its largest entry is > 0",
        ),
        "hosvd_core_energy": _heatmap(
            h.core_energy()[:, :SHOWN].mT * 100,
            [f"in #{i + 1}" for i in range(min(SHOWN, h.core.shape[1]))],
            [f"out #{k + 1}" for k in range(h.core.shape[0])],
            f"{title}: HOSVD core energy (% of ||T||²)",
            "output component",
            "% of ||T||²",
            f"per output component and input component (top {SHOWN}), summed over the third mode",
            diverging=False,
        ),
    }
    fig = go.Figure()
    for mode, shares in (("output (classes)", h.output_energy), ("input (pixels)", h.input_energy)):
        x = list(range(1, len(shares) + 1))
        fig.add_trace(go.Scatter(x=x, y=shares.cumsum(0).tolist(), mode="lines", name=mode))
    fig.update_xaxes(title_text="components kept", **log_axis([1, len(h.input_energy)]))
    fig.update_yaxes(title_text="cumulative share of ||T||²", range=[0, 1.02])
    figures["hosvd_energy"] = finish(fig, f"{title}: HOSVD energy by mode", subtitle="hosvd_energy.csv")
    return figures


def _cp_figures(result: SharedDecomposition, title: str, note: str) -> dict[str, go.Figure]:
    cp, classes = result.cp, result.classes
    shown = cp.components[:SHOWN]
    titles = [f"#{r + 1} {100 * float(cp.share[r]):.1f}%{_constant(v, cp.constant)}" for r, v in enumerate(shown)]
    figures = {
        "cp_components": image_grid(
            _images(shown, result.side, cp.constant),
            titles,
            min(COLS, len(titles)),
            f"{title}: rank-{cp.rank} CP components a_r shared across classes (share of the weights)",
            subtitle=note + "; class weights in cp_class_weights",
        ),
        "cp_class_weights": _heatmap(
            cp.weights,
            list(classes),
            [f"#{r + 1}" for r in range(cp.rank)],
            f"{title}: CP class weights w_c,r (T_c ≈ Σ_r w_c,r a_r a_rᵀ)",
            "component (by share)",
            "w",
            "least-squares weights of all R components (cp_weights.csv)",
        ),
    }
    fig = make_subplots(rows=1, cols=2, subplot_titles=["cosine to T with the top r", "test accuracy with the top r"])
    r = list(range(1, cp.rank + 1))
    fig.add_trace(go.Scatter(x=r, y=cp.cosine.tolist(), mode="lines+markers", name="cosine"), row=1, col=1)
    fig.add_trace(go.Scatter(x=r, y=result.cp_accuracy.tolist(), mode="lines+markers", name="CP logits"), row=1, col=2)
    fig.add_trace(
        go.Scatter(x=[1, cp.rank], y=[result.model_accuracy] * 2, mode="lines", line={"dash": "dot"}, name="the model"),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text="components r")
    fig.update_yaxes(range=[0, 1.02])
    figures["cp_quality"] = finish(
        fig,
        f"{title}: rank-{cp.rank} CP, reconstruction and accuracy",
        size=(2 * PLOT_SIZE[0] - 200, PLOT_SIZE[1]),
        subtitle="weights of the top r fitted again by least squares; logits Σ_r w_c,r (a_r·x)² (cp.csv)",
    )
    return figures


def _heatmap(
    z: torch.Tensor,
    rows: list[str],
    columns: list[str],
    title: str,
    x_title: str,
    scale_title: str,
    subtitle: str,
    diverging: bool = True,
) -> go.Figure:
    peak = float(z.abs().max()) or 1.0
    scale = (
        {"colorscale": DIVERGING, "zmin": -peak, "zmax": peak} if diverging else {"colorscale": "Viridis", "zmin": 0}
    )
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=columns,
            y=rows,
            **scale,
            colorbar={"title": {"text": scale_title, "font": {"size": TEXT_SIZE}}},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=x_title, tickangle=-45, tickfont_size=TICK_SIZE)
    width = max(PLOT_SIZE[0], 160 + 38 * len(columns))
    return finish(fig, title, size=(width, max(360, 160 + 30 * len(rows))), subtitle=subtitle)
