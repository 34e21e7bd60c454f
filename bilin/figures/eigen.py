"""Figures of eigenvectors (docs/science.md section 4): grids of images on a blue (+) / red (-) scale centred at 0.

The figures show each eigenvector with the sign it arrives with; the commands sign them first with
bilin.analysis.decompose.orient_to_class (the class's own images project positively), and the
subtitles say so (SIGN_NOTE).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from bilin.analysis.decompose import Eigen, Explanation
from bilin.figures.style import (
    CELL,
    DIVERGING,
    NEGATIVE,
    POSITIVE,
    TEXT_SIZE,
    add_row_labels,
    finish,
    image_axes,
    signed,
    text_width,
    top_margin,
)

SIGN_NOTE = "blue +, red −; each eigenvector signed so its class's test images have mean u·x > 0"
IMAGE_SCALE = {"colorscale": DIVERGING, "cmin": -1, "cmax": 1, "cmid": 0}


def unit_scale(image: torch.Tensor) -> torch.Tensor:
    """Scaled to max |value| = 1, sign kept (the sign is the caller's: see orient_to_class)."""
    peak = image.abs().max()
    return image / peak if peak > 0 else image


GREY_SCALE = {"colorscale": [[0.0, "rgb(0,0,0)"], [1.0, "rgb(255,255,255)"]], "cmin": 0, "cmax": 1}


def _eigen_image(image: torch.Tensor) -> go.Heatmap:
    return go.Heatmap(z=unit_scale(image.float()).flip(0).tolist(), coloraxis="coloraxis")


def _grey_image(image: torch.Tensor) -> go.Heatmap:
    """An input-space image in [0, 1] as the data shows it: 0 black, 1 white (never the signed scale)."""
    return go.Heatmap(z=image.float().flip(0).tolist(), coloraxis="coloraxis2")


def image_grid(
    images: Sequence[torch.Tensor],
    titles: Sequence[str],
    cols: int,
    title: str,
    row_labels: Sequence[str] | None = None,
    cell: int = CELL,
    subtitle: str = SIGN_NOTE,
    grey: Sequence[bool] = (),
) -> go.Figure:
    """Each image (H x W) scaled to max |value| = 1, one shared colour scale [-1, 1]; images marked
    in `grey` are [0, 1] pictures (inputs, feature visualisations), drawn black to white as they are."""
    rows = -(-len(images) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=list(titles),
        horizontal_spacing=0.08 / cols,
        vertical_spacing=min(0.3 / rows, 40 / (rows * cell)) if rows > 1 else 0.02,
    )
    for i, image in enumerate(images):
        drawn = _grey_image(image) if i < len(grey) and grey[i] else _eigen_image(image)
        fig.add_trace(drawn, row=i // cols + 1, col=i % cols + 1)
    image_axes(fig)
    left = add_row_labels(fig, row_labels)
    longest = max((text_width(t) for t in titles), default=0)
    cell = max(cell, int(longest) + 10)  # subplot titles must fit over their image
    fig.update_layout(
        coloraxis={
            **IMAGE_SCALE,
            "colorbar": {
                "title": {"text": "u / max|u|", "side": "right", "font": {"size": TEXT_SIZE}},
                "len": min(1.0, 0.9 + 0.05 * rows),
            },
        },
        coloraxis2={**GREY_SCALE, "showscale": False},
    )
    size = (left + cols * cell + 130, rows * (cell + 30) + top_margin(title, subtitle) + 35)
    return finish(fig, title, size, subtitle=subtitle, margin={"l": left, "r": 20, "b": 10})


def top_eigenvector_figure(
    vectors: torch.Tensor,
    values: torch.Tensor,
    classes: Sequence[str],
    shape: tuple[int, int],
    title: str,
    constants: torch.Tensor | None = None,
) -> go.Figure:
    """Figure 2: the eigenvector of the largest positive eigenvalue of each class. constants: a
    model with biases, the (classes, k) constant coordinates of the vectors (image parts) given."""
    top = values.argmax(dim=1)
    images = [vectors[c, top[c]].reshape(shape) for c in range(len(classes))]
    titles = [
        f"{name} (λ={signed(values[c, top[c]])}{_constant(constants, c, top[c])})" for c, name in enumerate(classes)
    ]
    subtitle = SIGN_NOTE if constants is None else f"{SIGN_NOTE}<br>{CONSTANT_NOTE}"
    return image_grid(images, titles, cols=5, title=title, subtitle=subtitle)


CONSTANT_NOTE = "biases folded into [x; 1]: the image part of u, and its constant coordinate as 1: value"


def _constant(constants: torch.Tensor | None, c: int, k: int | torch.Tensor) -> str:
    return "" if constants is None else f", 1: {signed(constants[c, k])}"


def panel_figure(
    panels: Sequence[tuple[str, torch.Tensor, torch.Tensor, Sequence[str]]], shape: tuple[int, int], title: str
) -> go.Figure:
    """Figure 2 for several datasets: one row per dataset, top positive eigenvector per class."""
    images, titles, labels = [], [], []
    for name, vectors, values, classes in panels:
        top = values.argmax(dim=1)
        images += [vectors[c, top[c]].reshape(shape) for c in range(len(classes))]
        titles += list(classes)
        labels.append(name)
    cols = max(len(p[3]) for p in panels)
    return image_grid(images, titles, cols=cols, title=title, row_labels=labels, cell=100)


def spectrum_figure(
    vectors: torch.Tensor,
    values: torch.Tensor,
    cls: int,
    class_name: str,
    shape: tuple[int, int],
    n_values: int = 20,
    n_images: int = 4,
    constants: torch.Tensor | None = None,
) -> go.Figure:
    """Figure 3 for one class: eigenvalues (top and bottom n) and the extreme eigenvectors
    (constants: as top_eigenvector_figure's)."""
    lam = values[cls]
    order = lam.argsort(descending=True)
    positive, negative = order[:n_images], order.flip(0)[:n_images]
    fig = make_subplots(
        rows=2,
        cols=n_images + 1,
        specs=[[{"rowspan": 2}] + [{}] * n_images, [None] + [{}] * n_images],
        column_widths=[0.34] + [0.66 / n_images] * n_images,
        subplot_titles=["eigenvalues"]
        + [f"λ={signed(lam[i])}{_constant(constants, cls, i)}" for i in (*positive, *negative)],
        horizontal_spacing=0.02,
        vertical_spacing=0.12,
    )
    top_idx, bottom_idx = order[:n_values], order.flip(0)[:n_values]
    for idx, colour, name in ((top_idx, POSITIVE, "largest positive"), (bottom_idx, NEGATIVE, "most negative")):
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(idx) + 1)), y=lam[idx].tolist(), mode="markers", marker={"color": colour}, name=name
            ),
            row=1,
            col=1,
        )
    for row, chosen in ((1, positive), (2, negative)):
        for j, k in enumerate(chosen):
            fig.add_trace(_eigen_image(vectors[cls, k].reshape(shape)), row=row, col=j + 2)
            image_axes(fig, row, j + 2)
    fig.update_xaxes(
        title_text="rank within its sign (#1 = largest |λ|)", range=[0.5, len(top_idx) + 0.5], row=1, col=1
    )
    fig.update_yaxes(title_text="eigenvalue λ", row=1, col=1)
    fig.update_layout(
        coloraxis={**IMAGE_SCALE, "showscale": False},
        legend={"x": 0.0, "y": -0.17, "yanchor": "top", "orientation": "h"},
    )
    return finish(
        fig,
        f"Class {class_name}: eigenvalues and the {n_images} largest positive (top) and most negative (bottom)",
        (1150, 520),
        subtitle=SIGN_NOTE if constants is None else f"{SIGN_NOTE}<br>{CONSTANT_NOTE}",
        margin={"b": 90},
    )


def spectrum_ranks(values: torch.Tensor) -> list[int]:
    """Each component's rank in its class's spectrum, #1 = the largest λ (the explorer's numbering;
    ties keep eigh's order)."""
    order = values.argsort(descending=True, stable=True).tolist()
    ranks = [0] * len(order)
    for rank, k in enumerate(order, start=1):
        ranks[k] = rank
    return ranks


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
    contributions, vectors, eigen_values = explanation.contributions, eigen.images, eigen.values
    n = len(top_classes)
    titles = [f"input (label {label})", "logits"]
    strongest = [contrib.argsort(descending=True)[:n_show].tolist() for contrib in contributions]
    for c, chosen in zip(top_classes, strongest, strict=True):
        ranks = spectrum_ranks(eigen_values[c])
        titles += [f"{classes[c]}: largest λ(u·x)² (logit {signed(logits[c], 1)})"] + [
            f"{classes[c]} #{ranks[k]}, λ={signed(eigen_values[c, k])}" for k in chosen
        ]
    cols = n_show + 1
    fig = make_subplots(
        rows=n + 1,
        cols=cols,
        subplot_titles=titles + [""] * (cols - 2),
        specs=[[{}, {"colspan": cols - 1}] + [None] * (cols - 2)] + [[{}] * cols] * n,
        vertical_spacing=0.4 / (n + 1),  # room for the rotated labels, then the next row's titles
        horizontal_spacing=0.05,
        column_widths=[0.4] + [0.6 / n_show] * n_show,
    )
    fig.add_trace(
        go.Heatmap(z=image.view(shape).flip(0).tolist(), colorscale="Greys", reversescale=True, showscale=False),
        row=1,
        col=1,
    )
    image_axes(fig, 1, 1)
    fig.add_trace(go.Bar(x=list(classes), y=logits.tolist(), marker_color="#555", showlegend=False), row=1, col=2)
    for r, (c, contrib) in enumerate(zip(top_classes, contributions, strict=True), start=2):
        largest = contrib.abs().argsort(descending=True)[:n_bars]
        shown = largest[contrib[largest].argsort(descending=True)].tolist()
        values = contrib[shown].tolist()
        ranks = spectrum_ranks(eigen_values[c])
        keys = [f"#{ranks[k]}" for k in shown]  # unique per component: equal λ never merge two bars
        fig.add_trace(
            go.Bar(
                x=keys,
                y=values,
                hovertext=[f"λ={signed(eigen_values[c, k], 4)}" for k in shown],
                marker_color=[POSITIVE if v > 0 else NEGATIVE for v in values],
                showlegend=False,
            ),
            row=r,
            col=1,
        )
        fig.update_xaxes(
            type="category",
            tickvals=keys,
            ticktext=[f"{key} λ={signed(eigen_values[c, k])}" for key, k in zip(keys, shown, strict=True)],
            tickangle=-60,
            row=r,
            col=1,
        )
        for j, k in enumerate(strongest[r - 2]):
            fig.add_trace(_eigen_image(vectors[c, k].reshape(shape)), row=r, col=j + 2)
            image_axes(fig, r, j + 2)
    fig.update_layout(coloraxis={**IMAGE_SCALE, "showscale": False})
    return finish(
        fig,
        "Explaining one prediction: logit_c = Σ_k λ_k (u_k·x)²",
        (1000, 360 * (n + 1)),
        subtitle="bars: blue adds to the logit, red subtracts; #k: the eigenvector's rank in its class's spectrum "
        "(#1 = largest λ) and its λ<br>images: the largest positive contributions; " + SIGN_NOTE,
        margin={"b": 110},  # the rotated labels of the last row
    )
