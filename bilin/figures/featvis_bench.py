"""Figures of `featvis-bench`: the methods' scores per dataset, and their images beside the optimum."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from bilin.figures.eigen import image_grid
from bilin.figures.style import finish

SCORES = {
    "cos": "|cos| to the optimum",
    "fraction": "logit / (r² λ_max)",
    "top5_energy": "energy in the top-5 eigenspace",
    "steps_to_95": "steps to 95% of the final fraction",
}
DATASET_COLOURS = {"mnist": "rgb(33,102,172)", "fmnist": "rgb(230,145,56)"}


def bench_scores_figure(summary: Sequence[Mapping], methods: Sequence[str], datasets: Sequence[str]) -> go.Figure:
    """One panel per score: each method's mean over seeds x classes with its 90% t interval, per dataset."""
    fig = make_subplots(rows=1, cols=len(SCORES), subplot_titles=list(SCORES.values()), horizontal_spacing=0.07)
    rows = {(r["dataset"], r["method"], r["score"]): r for r in summary if r["model"] == "bilinear"}
    for col, score in enumerate(SCORES, start=1):
        for data in datasets:
            shown = [m for m in methods if (data, m, score) in rows]
            picked = [rows[(data, m, score)] for m in shown]
            fig.add_trace(
                go.Bar(
                    x=shown,
                    y=[r["mean"] for r in picked],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [r["high"] - r["mean"] for r in picked],
                        "arrayminus": [r["mean"] - r["low"] for r in picked],
                    },
                    name=data,
                    marker_color=DATASET_COLOURS.get(data),
                    legendgroup=data,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        if score != "steps_to_95":
            fig.update_yaxes(range=[0, 1.05], row=1, col=col)
    fig.update_xaxes(tickangle=-45)
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.42, "x": 0, "title": {"text": "dataset"}})
    samples = next(iter(rows.values()))["samples"] if rows else 0
    return finish(
        fig,
        "Feature visualisation against the exact optimum (bilinear MLPs)",
        (360 * len(SCORES), 480),
        subtitle=f"mean and 90% Student-t interval over {samples} images (seeds × classes); "
        "each image rescaled to one norm, so the scores do not depend on it",
        margin={"b": 170},
    )


def bench_images_figure(
    images: Mapping[str, torch.Tensor], classes: Sequence[str], dataset: str, d_hidden: int, seed: int
) -> go.Figure:
    """Rows: each method's image per class (mean removed, signed to agree with the optimum) and the
    optimum itself (M_c's top eigenvector, signed by its class's test images)."""
    optimum = images["optimum"]
    methods = [m for m in images if m != "optimum"]
    cells, labels = [], []
    for method in [*methods, "optimum"]:
        for c in range(optimum.shape[0]):
            image = images[method][c].double()
            if method != "optimum":
                image = image - image.mean()
                if (image * optimum[c]).sum() < 0:
                    image = -image
            cells.append(image.float())
        labels.append(method)
    titles = list(classes) + [""] * (len(cells) - len(classes))
    return image_grid(
        cells,
        titles,
        cols=optimum.shape[0],
        title=f"{dataset}: each method's image beside the exact optimum (d={d_hidden}, seed {seed})",
        row_labels=labels,
        cell=80,
        subtitle="blue +, red −; method images: mean removed, sign chosen to agree with the optimum "
        "(a quadratic logit does not tell x from −x); optimum: signed so its class's test images have mean u·x > 0",
    )
