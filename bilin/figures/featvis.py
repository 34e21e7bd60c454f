"""Figures of feature visualisations: image grids (targets x images or ladder steps), the
objective curves, an animation of the optimisation, and featvis beside the eigenvectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from bilin.figures.eigen import SIGN_NOTE, image_grid
from bilin.figures.style import CELL, add_row_labels, finish, text_width, top_margin

if TYPE_CHECKING:
    from bilin.featvis.outcome import EigenComparison, FeatvisOutcome

FRAME_COLOUR = "rgb(150,150,150)"  # a 1 px frame round every tile: white- or black-edged tiles stay apart
MAX_COLS = 5  # one image per target: the targets wrap into rows of this many


def displayable(image: torch.Tensor) -> torch.Tensor:
    """(c, h, w) -> (h, w, 3) uint8. Images inside [0, 1] are shown as they are; others (unsquashed
    pixel parameterisations) are scaled to their own range."""
    image = image.float()
    if image.min() < 0 or image.max() > 1:
        image = (image - image.min()) / (image.max() - image.min()).clamp_min(1e-8)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    return (image[:3].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8)


def tile_grid(
    tiles: Sequence[torch.Tensor],
    titles: Sequence[str],
    cols: int,
    title: str,
    row_labels: Sequence[str] | None = None,
) -> go.Figure:
    """Images (c, h, w) in a grid, each in its own framed panel with its title above it, the rows
    labelled on the left; the figure is sized to its panels, no wider."""
    rows = -(-len(tiles) // cols)
    longest = max((text_width(t) for t in titles), default=0)
    cell = max(CELL, int(longest) + 12)  # a panel is as wide as its title needs
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=list(titles),
        horizontal_spacing=min(0.2 / cols, 16 / (cols * cell)) if cols > 1 else 0.0,
        vertical_spacing=min(0.3 / rows, 34 / (rows * cell)) if rows > 1 else 0.0,
    )
    for i, tile in enumerate(tiles):
        fig.add_trace(go.Image(z=displayable(tile).numpy(), hoverinfo="skip"), row=i // cols + 1, col=i % cols + 1)
    frame = {"showline": True, "mirror": True, "linecolor": FRAME_COLOUR, "linewidth": 1}
    bare = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": "", **frame}
    fig.update_xaxes(**bare, constrain="domain")
    fig.update_yaxes(**bare, constrain="domain")
    fig.for_each_yaxis(lambda axis: axis.update(scaleanchor=axis.anchor))
    left = add_row_labels(fig, row_labels)
    size = (left + cols * (cell + 16) + 20, rows * (cell + 34) + top_margin(title) + 30)
    return finish(fig, title, size, margin={"l": left, "r": 20, "b": 10})


def featvis_grid(images: torch.Tensor, target_labels: Sequence[str], title: str) -> go.Figure:
    """images: (targets, per_target, c, h, w). One image per target: the targets side by side,
    wrapping after MAX_COLS; several: one row per target."""
    targets, per_target = images.shape[:2]
    if per_target == 1:
        return tile_grid(list(images[:, 0]), target_labels, min(targets, MAX_COLS), title)
    titles = [f"image {i}" for i in range(per_target)] + [""] * (targets - 1) * per_target
    return tile_grid(list(images.flatten(0, 1)), titles, per_target, title, row_labels=target_labels)


def ladder_figure(steps: Sequence[tuple[str, torch.Tensor]], target_labels: Sequence[str], title: str) -> go.Figure:
    """steps: (name, images (targets, per_target, c, h, w)); column = step, its first image per target."""
    tiles = [images[t, 0] for t in range(len(target_labels)) for _, images in steps]
    titles = [name for name, _ in steps] + [""] * (len(tiles) - len(steps))
    return tile_grid(tiles, titles, len(steps), title, row_labels=target_labels)


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
    """frames: (step, images (targets * per_target, c, h, w)); featvis_grid's layout showing the last
    step, a slider over the steps (set at the last) and a play button."""
    grid = lambda images: images.view(len(target_labels), per_target, *images.shape[1:])  # noqa: E731
    fig = featvis_grid(grid(frames[-1][1]), target_labels, title)
    fig.frames = [
        go.Frame(
            data=[go.Image(z=displayable(tile).numpy(), hoverinfo="skip") for tile in images],
            traces=list(range(len(images))),
            name=str(step),
        )
        for step, images in frames
    ]
    fig.update_layout(
        sliders=[
            {
                "active": len(frames) - 1,  # the step the figure shows
                "steps": [
                    {
                        "label": str(step),
                        "method": "animate",
                        "args": [[str(step)], {"mode": "immediate", "frame": {"duration": 0}}],
                    }
                    for step, _ in frames
                ],
                "currentvalue": {"prefix": "step "},
                "pad": {"t": 20},
                "x": 0.15,
                "len": 0.85,
            }
        ],
        updatemenus=[
            {
                "type": "buttons",
                "buttons": [{"label": "play", "method": "animate", "args": [None, {"frame": {"duration": 150}}]}],
                "x": 0,
                "xanchor": "left",
                "y": 0,
                "yanchor": "top",
                "pad": {"t": 45},
            }
        ],
        height=fig.layout.height + 110,  # the slider's room below the tiles
        margin_b=120,
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
    constant: bool = False,
) -> go.Figure:
    """Rows: featvis image (grey, as the model sees it), top eigenvector u = E^T v (decompose), top
    eigenvector of M_c (both on the signed scale); per class.
    oriented: whether the eigenvectors were signed by orient_to_class (the subtitle says which);
    constant: a model with biases, whose eigenvectors live in [x; 1] (their image parts are drawn)."""
    pictures = [displayable(img.view(1, *shape))[..., 0].float() / 255 for img in featvis]  # [0, 1], as featvis.png
    images = pictures + [img.view(shape) for img in (*hidden_top, *input_top)]
    titles = list(classes) + [""] * (2 * len(classes))
    signs = SIGN_NOTE if oriented else "blue +, red −; eigenvector signs arbitrary (test set not found)"
    return image_grid(
        images,
        titles,
        cols=len(classes),
        title=title,
        row_labels=["featvis", "top u = Eᵀv", "top of M_c"],
        subtitle=f"featvis: the image in [0, 1], black 0, white 1<br>eigenvectors: {signs}"
        + ("<br>biases folded: each eigenvector lives in [x; 1], its image part is drawn" if constant else ""),
        grey=[True] * len(pictures),
    )


def featvis_figures(outcome: FeatvisOutcome, eigen: EigenComparison | None, subtitle: str) -> dict[str, go.Figure]:
    """A featvis run's figures: the images, their objective curves, the ladder and the animation when the
    run has them, and the images beside the eigenvectors for a bilinear MLP. subtitle: model, steps, seed."""
    from bilin.featvis.ladder import LADDER

    title = f"<br><sup>{subtitle}</sup>"
    main, labels = outcome.main, outcome.labels
    figures = {
        "featvis": featvis_grid(main.images, labels, f"Feature visualisation{title}"),
        "objective": objective_curves(main.curve, labels, f"Objective per step{title}"),
    }
    if outcome.has_ladder:
        steps = [(name, outcome.renders[name].images) for name in LADDER]
        figures["ladder"] = ladder_figure(steps, labels, f"Tricks added one at a time{title}")
    if main.frames:
        per_target = main.images.shape[1]
        figures["animation"] = animation_figure(main.frames, per_target, labels, f"Optimisation{title}")
    if eigen is not None:
        figures["featvis_vs_eigenvectors"] = featvis_vs_eigenvectors(
            eigen.images,
            eigen.hidden_top,
            eigen.input_top,
            eigen.names,
            eigen.shape,
            f"Featvis and top eigenvectors{title}",
            oriented=eigen.signed,
            constant=eigen.constant,
        )
    return figures
