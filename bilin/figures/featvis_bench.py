"""Figures of `featvis-bench`: the methods' scores per dataset, and their images beside the sphere optimum."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from bilin.figures.eigen import image_grid
from bilin.figures.style import finish

SCORES = {
    "cos": "direction: |cos| to the optimum",
    "fraction": "direction: logit / (r² λ_max)",
    "top5_energy": "direction: top-5 eigenspace energy",
    "box_share": "in the box: logit / box optimum's",
    "steps_to_95": "steps to 95% of the final fraction",
}
DATASET_COLOURS = {"mnist": "rgb(33,102,172)", "fmnist": "rgb(230,145,56)"}
HEADROOM = 1.15  # the axis runs this far past the highest (and any below-0) bar or error bar: none touches the frame


def bench_scores_figure(
    summary: Sequence[Mapping], methods: Sequence[str], datasets: Sequence[str]
) -> tuple[go.Figure, list[dict]]:
    """One panel per score: each method's mean per dataset with its interval over models; and the
    plotted numbers as rows (dataset, method, score, mean, low, high) for a CSV beside the figure."""
    fig = make_subplots(rows=1, cols=len(SCORES), subplot_titles=list(SCORES.values()), horizontal_spacing=0.06)
    rows = {(r["dataset"], r["method"], r["score"]): r for r in summary if r["model"] == "bilinear"}
    plotted = []
    for col, score in enumerate(SCORES, start=1):
        top, bottom = 0.0, 0.0
        for data in datasets:
            shown = [m for m in methods if (data, m, score) in rows]
            picked = [rows[(data, m, score)] for m in shown]
            plotted += [
                {"dataset": data, "method": m, "score": score, **_numbers(r)}
                for m, r in zip(shown, picked, strict=True)
            ]
            top = max([top, *(max(_bound(r, "high"), r["mean"]) for r in picked)])
            bottom = min([bottom, *(min(_bound(r, "low"), r["mean"]) for r in picked)])
            fig.add_trace(
                go.Bar(
                    x=shown,
                    y=[r["mean"] for r in picked],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [_bound(r, "high") - r["mean"] for r in picked],
                        "arrayminus": [r["mean"] - _bound(r, "low") for r in picked],
                        "visible": any(r["low"] != "" for r in picked),
                    },
                    name=data,
                    marker_color=DATASET_COLOURS.get(data),
                    legendgroup=data,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        fig.update_yaxes(range=[HEADROOM * bottom, HEADROOM * (top if top > 0 else 1.0)], row=1, col=col)
    fig.update_xaxes(tickangle=-45)
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.42, "x": 0, "title": {"text": "dataset"}})
    picked = next(iter(rows.values()), None)
    models = picked["models"] if picked else 0
    figure = finish(
        fig,
        "Feature visualisation on bilinear MLPs: direction and logit in the box",
        (330 * len(SCORES), 480),
        subtitle=(
            f"mean over seeds × classes; bars: 90% Student-t interval over {models} models (classes averaged first)"
            if models > 1
            else "mean over the classes of one model (no interval: one model)"
        )
        + ". Direction scores: each image rescaled to one norm; box share: the image as the model sees it, "
        "over the best image found in [0, 1] (sphere: outside the box)",
        margin={"b": 170},
    )
    return figure, plotted


def _bound(row: Mapping, end: str) -> float:
    """An interval's end, or the mean where there is no interval (one model)."""
    return row["mean"] if row[end] == "" else row[end]


def _numbers(row: Mapping) -> dict:
    return {"mean": row["mean"], "low": row["low"], "high": row["high"], "models": row["models"]}


def bench_images_figure(
    images: Mapping[str, torch.Tensor], classes: Sequence[str], dataset: str, d_hidden: int, seed: int
) -> go.Figure:
    """Rows: each method's image per class and the best image found in the box (mean removed, signed
    to agree with the optimum), and the sphere optimum itself (M_c's top eigenvector, signed by its
    class's test images)."""
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
        labels.append("sphere optimum" if method == "optimum" else method)
    titles = list(classes) + [""] * (len(cells) - len(classes))
    return image_grid(
        cells,
        titles,
        cols=optimum.shape[0],
        title=f"{dataset}: each method's image beside the sphere optimum (d={d_hidden}, seed {seed})",
        row_labels=labels,
        cell=80,
        subtitle="blue +, red −; method and box-optimum images: mean removed, sign chosen to agree with the sphere "
        "optimum (a quadratic logit does not tell x from −x); sphere optimum: signed so its class's test images have "
        "mean u·x > 0",
    )


def bench_figures(
    means: Sequence[Mapping],
    examples: Mapping[str, Mapping[str, torch.Tensor]],
    methods: Sequence[str],
    datasets: Sequence[str],
    d_hidden: int,
    seed: int,
) -> tuple[dict[str, go.Figure], list[dict]]:
    """The scores figure and each dataset's example images (the model of size d_hidden and seed `seed`);
    and the scores figure's plotted numbers as rows (bench_scores.csv)."""
    from bilin.data import DATASETS

    scores_figure, plotted = bench_scores_figure(means, methods, datasets)
    figures = {"bench_scores": scores_figure}
    for data, images in examples.items():
        figures[f"bench_images_{data}"] = bench_images_figure(
            images, DATASETS[data].classes, DATASETS[data].title, d_hidden, seed
        )
    return figures, plotted
