"""Figures of feature visualisations: image grids (targets x images or ladder steps), the
objective curves, an animation of the optimisation, and featvis beside the eigenvectors."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from bilin.figures.eigen import SIGN_NOTE, image_grid
from bilin.figures.style import finish, text_width

GAP = 2  # pixels between tiles


def displayable(image: torch.Tensor) -> torch.Tensor:
    """(c, h, w) -> (h, w, 3) uint8. Images inside [0, 1] are shown as they are; others (unsquashed
    pixel parameterisations) are scaled to their own range."""
    image = image.float()
    if image.min() < 0 or image.max() > 1:
        image = (image - image.min()) / (image.max() - image.min()).clamp_min(1e-8)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    return (image[:3].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8)


def montage(tiles: torch.Tensor) -> torch.Tensor:
    """(rows, cols, c, h, w) -> one (H, W, 3) uint8 picture with white gaps."""
    rows, cols, _, h, w = tiles.shape
    scale = max(1, 96 // max(h, w))  # small images (28 px) are enlarged by whole pixels, no smoothing
    h2, w2 = h * scale, w * scale
    canvas = torch.full((rows * (h2 + GAP) - GAP, cols * (w2 + GAP) - GAP, 3), 255, dtype=torch.uint8)
    for r in range(rows):
        for c in range(cols):
            tile = displayable(tiles[r, c]).repeat_interleave(scale, 0).repeat_interleave(scale, 1)
            canvas[r * (h2 + GAP) : r * (h2 + GAP) + h2, c * (w2 + GAP) : c * (w2 + GAP) + w2] = tile
    return canvas


def _labelled(
    picture: torch.Tensor, rows: int, cols: int, row_labels: Sequence[str], col_labels: Sequence[str], title: str
) -> go.Figure:
    height, width = picture.shape[:2]
    fig = go.Figure(go.Image(z=picture.numpy()))
    cell_h, cell_w = (height + GAP) / rows, (width + GAP) / cols
    fig.update_xaxes(
        showticklabels=True,
        tickvals=[cell_w * (c + 0.5) for c in range(cols)],
        ticktext=list(col_labels),
        side="top",
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(
        showticklabels=True,
        tickvals=[cell_h * (r + 0.5) for r in range(rows)],
        ticktext=list(row_labels),
        showgrid=False,
        zeroline=False,
    )
    scale = min(1.0, 1100 / width)
    left = int(max((text_width(label) for label in row_labels), default=0)) + 30
    size = (int(width * scale) + left + 20, int(height * scale) + 125)
    return finish(fig, title, size, margin={"l": left, "r": 20, "t": 105, "b": 20})


def featvis_grid(images: torch.Tensor, target_labels: Sequence[str], title: str) -> go.Figure:
    """images: (targets, per_target, c, h, w); one row per target."""
    rows, cols = images.shape[:2]
    return _labelled(montage(images), rows, cols, target_labels, [f"image {i}" for i in range(cols)], title)


def ladder_figure(steps: Sequence[tuple[str, torch.Tensor]], target_labels: Sequence[str], title: str) -> go.Figure:
    """steps: (name, images (targets, per_target, c, h, w)); column = step, its first image per target."""
    tiles = torch.stack([images[:, 0] for _, images in steps], dim=1)
    return _labelled(montage(tiles), tiles.shape[0], tiles.shape[1], target_labels, [n for n, _ in steps], title)


def objective_curves(curve: torch.Tensor, target_labels: Sequence[str], title: str) -> go.Figure:
    """curve: (steps, targets, per_target); mean over the images of each target."""
    fig = go.Figure()
    mean = curve.mean(-1)
    for t, label in enumerate(target_labels):
        fig.add_trace(go.Scatter(x=list(range(len(mean))), y=mean[:, t].tolist(), mode="lines", name=label))
    fig.update_layout(xaxis_title="step", yaxis_title="target activation (with transforms)")
    return finish(fig, title)


def animation_figure(
    frames: Sequence[tuple[int, torch.Tensor]], per_target: int, target_labels: Sequence[str], title: str
) -> go.Figure:
    """frames: (step, images (targets * per_target, c, h, w)); a slider over the steps."""
    pictures = [montage(images.view(len(target_labels), per_target, *images.shape[1:])) for _, images in frames]
    fig = _labelled(
        pictures[-1], len(target_labels), per_target, target_labels, [f"image {i}" for i in range(per_target)], title
    )
    fig.frames = [
        go.Frame(data=[go.Image(z=p.numpy())], name=str(step)) for (step, _), p in zip(frames, pictures, strict=True)
    ]
    fig.update_layout(
        sliders=[
            {
                "steps": [
                    {
                        "label": str(step),
                        "method": "animate",
                        "args": [[str(step)], {"mode": "immediate", "frame": {"duration": 0}}],
                    }
                    for step, _ in frames
                ],
                "currentvalue": {"prefix": "step "},
            }
        ],
        updatemenus=[
            {
                "type": "buttons",
                "buttons": [{"label": "play", "method": "animate", "args": [None, {"frame": {"duration": 150}}]}],
            }
        ],
    )
    return fig


def featvis_vs_eigenvectors(
    featvis: torch.Tensor,
    hidden_top: torch.Tensor,
    input_top: torch.Tensor,
    classes: Sequence[str],
    shape: tuple[int, int],
    title: str,
    oriented: bool = True,
) -> go.Figure:
    """Rows: featvis image, top eigenvector u = E^T v (decompose), top eigenvector of M_c; per class.
    oriented: whether the eigenvectors were signed by orient_to_class (the subtitle says which)."""
    images = [img.view(shape) for img in (*featvis, *hidden_top, *input_top)]
    titles = list(classes) + [""] * (2 * len(classes))
    return image_grid(
        images,
        titles,
        cols=len(classes),
        title=title,
        row_labels=["featvis", "top u = Eᵀv", "top of M_c"],
        subtitle=SIGN_NOTE if oriented else "blue +, red −; eigenvector signs arbitrary (test set not found)",
    )
