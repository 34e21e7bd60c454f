"""Figures of eigenvectors (SPEC 4): grids of images on a red-blue scale centred at 0."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from bilin.analysis.decompose import Eigen, Explanation

COLOURS = "RdBu_r"  # red positive, blue negative


def _unit_max(image: torch.Tensor) -> torch.Tensor:
    """Scale to max |value| = 1, sign chosen so the strongest pixel is positive (red): an
    eigenvector's sign is arbitrary, and a fixed convention makes panels comparable."""
    flat = image.flatten()
    peak = flat[flat.abs().argmax()]
    return image / peak if peak != 0 else image


def image_grid(
    images: Sequence[torch.Tensor],
    titles: Sequence[str],
    cols: int,
    title: str,
    row_labels: Sequence[str] | None = None,
    cell: int = 150,
) -> go.Figure:
    """Each image (H x W) scaled to max |value| = 1, one shared colour scale [-1, 1]."""
    rows = -(-len(images) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=list(titles),
        horizontal_spacing=0.01,
        vertical_spacing=0.06 if rows > 1 else 0.02,
    )
    for i, image in enumerate(images):
        fig.add_trace(
            go.Heatmap(z=_unit_max(image.float()).flip(0).tolist(), coloraxis="coloraxis"),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, scaleanchor="x", constrain="domain")
    for r, label in enumerate(row_labels or []):
        fig.update_yaxes(title_text=label, row=r + 1, col=1)
    fig.update_layout(
        title=title,
        coloraxis={
            "colorscale": COLOURS,
            "cmin": -1,
            "cmax": 1,
            "cmid": 0,
            "colorbar": {"title": "weight / max|weight|", "len": 0.8},
        },
        width=cols * cell + 160,
        height=rows * cell + 110,
        template="plotly_white",
        margin={"l": 60 if row_labels else 20, "r": 20, "t": 80, "b": 20},
    )
    fig.update_annotations(font_size=11)
    return fig


def top_eigenvector_figure(
    vectors: torch.Tensor, values: torch.Tensor, classes: Sequence[str], shape: tuple[int, int], title: str
) -> go.Figure:
    """Figure 2: the eigenvector of the largest positive eigenvalue of each class."""
    top = values.argmax(dim=1)
    images = [vectors[c, top[c]].view(shape) for c in range(len(classes))]
    titles = [f"{name} (λ={values[c, top[c]]:.2f})" for c, name in enumerate(classes)]
    return image_grid(images, titles, cols=5, title=title)


def panel_figure(
    panels: Sequence[tuple[str, torch.Tensor, torch.Tensor, Sequence[str]]], shape: tuple[int, int], title: str
) -> go.Figure:
    """Figure 2 for several datasets: one row per dataset, top positive eigenvector per class."""
    images, titles, labels = [], [], []
    for name, vectors, values, classes in panels:
        top = values.argmax(dim=1)
        images += [vectors[c, top[c]].view(shape) for c in range(len(classes))]
        titles += list(classes)
        labels.append(name)
    cols = max(len(p[3]) for p in panels)
    return image_grid(images, titles, cols=cols, title=title, row_labels=labels, cell=110)


def spectrum_figure(
    vectors: torch.Tensor,
    values: torch.Tensor,
    cls: int,
    class_name: str,
    shape: tuple[int, int],
    n_values: int = 20,
    n_images: int = 4,
) -> go.Figure:
    """Figure 3 for one class: eigenvalues (top and bottom n) and the extreme eigenvectors."""
    lam = values[cls]
    order = lam.argsort(descending=True)
    positive, negative = order[:n_images], order.flip(0)[:n_images]
    fig = make_subplots(
        rows=2,
        cols=n_images + 1,
        specs=[[{"rowspan": 2}] + [{}] * n_images, [None] + [{}] * n_images],
        column_widths=[0.32] + [0.68 / n_images] * n_images,
        subplot_titles=["eigenvalues"] + [f"λ={lam[i]:.2f}" for i in positive] + [f"λ={lam[i]:.2f}" for i in negative],
        horizontal_spacing=0.015,
    )
    top_idx, bottom_idx = order[:n_values], order.flip(0)[:n_values]
    for idx, colour, name in ((top_idx, "#d62728", "largest positive"), (bottom_idx, "#1f77b4", "most negative")):
        fig.add_trace(
            go.Scatter(
                x=list(range(len(idx))), y=lam[idx].tolist(), mode="markers", marker={"color": colour}, name=name
            ),
            row=1,
            col=1,
        )
    for row, chosen in ((1, positive), (2, negative)):
        for j, k in enumerate(chosen):
            fig.add_trace(
                go.Heatmap(z=_unit_max(vectors[cls, k].view(shape)).flip(0).tolist(), coloraxis="coloraxis"),
                row=row,
                col=j + 2,
            )
    for row in (1, 2):
        for col in range(2, n_images + 2):
            fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=row, col=col)
            anchor = fig.get_subplot(row, col).yaxis.anchor  # keep the images square
            fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, scaleanchor=anchor, row=row, col=col)
    fig.update_xaxes(title_text="rank", row=1, col=1)
    fig.update_yaxes(title_text="eigenvalue λ", row=1, col=1)
    fig.update_layout(
        title=f"Class {class_name}: eigenspectrum, top {n_images} positive (upper) and negative (lower) eigenvectors",
        width=1150,
        height=460,
        template="plotly_white",
        coloraxis={"colorscale": COLOURS, "cmin": -1, "cmax": 1, "cmid": 0, "showscale": False},
        legend={"x": 0.0, "y": -0.15, "orientation": "h"},
    )
    fig.update_annotations(font_size=11)
    return fig


def explanation_figure(
    explanation: Explanation,
    label: str,
    classes: Sequence[str],
    eigen: Eigen,
    shape: tuple[int, int],
    n_show: int = 3,
    n_bars: int = 12,
) -> go.Figure:
    """One input: for each top class, its largest contributions λ(u·x)² (sorted), the
    eigenvectors of the largest positive ones, and the logits."""
    image, logits, top_classes = explanation.x, explanation.logits, explanation.top_classes
    contributions, vectors, eigen_values = explanation.contributions, eigen.vectors, eigen.values
    n = len(top_classes)
    titles = [f"input (label {label})", "logits"]
    for c in top_classes:
        titles += [f"class {classes[c]}: largest λ(u·x)² (logit {logits[c]:.1f})"] + [
            f"{classes[c]}: contribution #{j + 1}" for j in range(n_show)
        ]
    cols = n_show + 1
    fig = make_subplots(
        rows=n + 1,
        cols=cols,
        subplot_titles=titles + [""] * (cols - 2),
        specs=[[{}, {"colspan": cols - 1}] + [None] * (cols - 2)] + [[{}] * cols] * n,
        vertical_spacing=0.1,
        horizontal_spacing=0.05,
        column_widths=[0.4] + [0.6 / n_show] * n_show,
    )
    fig.add_trace(
        go.Heatmap(z=image.view(shape).flip(0).tolist(), colorscale="Greys", reversescale=True, showscale=False),
        row=1,
        col=1,
    )
    fig.add_trace(go.Bar(x=list(classes), y=logits.tolist(), marker_color="#555", showlegend=False), row=1, col=2)
    for r, (c, contrib) in enumerate(zip(top_classes, contributions, strict=True), start=2):
        largest = contrib.abs().argsort(descending=True)[:n_bars]
        shown = largest[contrib[largest].argsort(descending=True)]
        values = contrib[shown].tolist()
        fig.add_trace(
            go.Bar(
                x=[f"λ={eigen_values[c, k]:.2f}" for k in shown.tolist()],
                y=values,
                marker_color=["#d62728" if v > 0 else "#1f77b4" for v in values],
                showlegend=False,
            ),
            row=r,
            col=1,
        )
        fig.update_xaxes(tickfont_size=8, row=r, col=1)
        for j, k in enumerate(contrib.argsort(descending=True)[:n_show]):
            fig.add_trace(
                go.Heatmap(z=_unit_max(vectors[c, k].view(shape)).flip(0).tolist(), coloraxis="coloraxis"),
                row=r,
                col=j + 2,
            )
            fig.update_xaxes(showticklabels=False, showgrid=False, row=r, col=j + 2)
            fig.update_yaxes(
                showticklabels=False,
                showgrid=False,
                scaleanchor=fig.get_subplot(r, j + 2).yaxis.anchor,
                row=r,
                col=j + 2,
            )
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_yaxes(showticklabels=False, row=1, col=1)
    fig.update_layout(
        title="Explaining one prediction: logit_c = Σ_k λ_k (u_k·x)²",
        width=1000,
        height=300 * (n + 1),
        template="plotly_white",
        coloraxis={"colorscale": COLOURS, "cmin": -1, "cmax": 1, "cmid": 0, "showscale": False},
    )
    fig.update_annotations(font_size=11)
    return fig
