"""`bilin diff`'s figures: the top directions of D_c = M_A,c - M_B,c per class as images with their λ, and the
share of the exact distance E[(f_A - f_B)^2] that the top-k directions explain, per class and input law.
Every number drawn is in the run's diff.csv (shares), diff_spectrum.csv (λ) and directions.safetensors."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bilin.analysis.model_diff import SIGN_RULE, ModelDiff
from bilin.data import DATASETS
from bilin.figures.eigen import CONSTANT_NOTE, image_grid
from bilin.figures.frequency import CLASS_COLOURS
from bilin.figures.style import PLOT_SIZE, finish, signed


def law_title(law: str, dataset: str) -> str:
    title = DATASETS[dataset].title if dataset in DATASETS else dataset
    return {"gaussian": "standard Gaussian inputs", "data": f"{title} training images' mean and covariance"}[law]


def diff_figures(diff: ModelDiff, shape: tuple[int, ...], pair: str, dataset: str) -> dict[str, go.Figure]:
    """diff_directions and diff_share; shape: the image's (channels, height, width); pair: 'A = ..., B = ...';
    dataset: the one whose training images make the data law."""
    return {
        "diff_directions": directions_figure(diff, shape, pair),
        "diff_share": share_figure(diff, pair, dataset),
    }


def _drawn(image, shape: tuple[int, ...]):
    """(inputs,) -> (height, width * channels): colour channels side by side."""
    channels, height, width = (1, *shape) if len(shape) == 2 else shape[-3:]
    return image.float().reshape(channels, height, width).permute(1, 0, 2).reshape(height, channels * width)


def directions_figure(diff: ModelDiff, shape: tuple[int, ...], pair: str) -> go.Figure:
    """classes x components: the eigenvectors of D_c by |λ|, each titled with its λ."""
    images, titles = [], []
    for c in range(len(diff.classes)):
        for k in range(diff.components):
            images.append(_drawn(diff.images()[c, k], shape))
            titles.append(f"#{k + 1}: λ={signed(float(diff.top_values[c, k]), 3)}")
    note = f"<br>{CONSTANT_NOTE}" if diff.constant else ""
    fig = image_grid(
        images,
        titles,
        cols=diff.components,
        title="What changed: the top directions of M_A − M_B per class, by |λ|",
        row_labels=[f"class {name}" for name in diff.classes],
        subtitle=f"{pair}; λ > 0: A's logit is larger along v, λ < 0: B's<br>blue +, red −, each scaled to max "
        f"|value| = 1; {SIGN_RULE}{note}",
    )
    return fig.update_layout(coloraxis_colorbar_title_text="v / max|v|")


def share_figure(diff: ModelDiff, pair: str, dataset: str) -> go.Figure:
    """The explained share 1 - E[f_R_k^2] / E[f_D^2] against k, a line per class, a panel per input law."""
    fig = make_subplots(
        rows=1,
        cols=len(diff.laws),
        subplot_titles=[law_title(r.law, dataset) for r in diff.laws],
        shared_yaxes=True,
        horizontal_spacing=0.06,
    )
    ks = list(range(1, diff.components + 1))
    low = 0.0
    for col, result in enumerate(diff.laws, start=1):
        shares = result.shares()
        relative = result.distance / result.reference
        for c, name in enumerate(diff.classes):
            values = shares[c].tolist()
            low = min([low, *(v for v in values if math.isfinite(v))])
            fig.add_trace(
                go.Scatter(
                    x=ks, y=values, mode="lines+markers", marker={"size": 5},
                    line={"color": CLASS_COLOURS[c % len(CLASS_COLOURS)]}, name=f"class {name}",
                    legendgroup=name, showlegend=col == 1,
                    hovertemplate=f"class {name}: relative distance {float(relative[c]):.3g}<br>"
                    "k=%{x}: share %{y:.3f}<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
        distance, rel, overall = result.overall()
        fig.add_trace(
            go.Scatter(
                x=ks, y=overall, mode="lines", line={"color": "black", "dash": "dash", "width": 2},
                name="all classes", legendgroup="all", showlegend=col == 1,
            ),
            row=1, col=col,
        )  # fmt: skip
        fig.update_xaxes(title_text="k, top directions kept", tickvals=ks if len(ks) <= 12 else None, row=1, col=col)
    fig.update_yaxes(title_text="share of E[(f_A − f_B)²] explained", range=[min(low, 0) - 0.05, 1.05], row=1, col=1)
    relatives = ", ".join(f"{r.law} law {r.overall()[1]:.3g}" for r in diff.laws)
    subtitle = (
        f"{pair}; share = 1 − E[(f_D − f_D,k)²] / E[f_D²], exact under each input law"
        f"<br>relative distance E[(f_A − f_B)²] / E[f_A²] over all classes: {relatives}"
    )
    fig.update_layout(legend={"orientation": "h", "y": -0.22, "x": 0})  # below: eleven entries fit in a row
    size = (PLOT_SIZE[0] + 360 * (len(diff.laws) - 1), PLOT_SIZE[1] + 60)
    return finish(fig, "How much of the difference the top-k directions explain", size, subtitle, {"b": 110})
