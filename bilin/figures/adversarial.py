"""`bilin adversarial`'s figures: accuracy and targeted success against the mask strength alpha per
method (mean and 90% t band over seeds), and the universal masks as images."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bilin.analysis.adversarial import ALL, MASKS, METHODS, AdversarialStudy
from bilin.data import DATASETS
from bilin.figures.eigen import image_grid
from bilin.figures.frequency import CLASS_COLOURS
from bilin.figures.style import PLOT_SIZE, band_trace, finish

METHOD_LABELS = {
    "eigen": "eigen mask (weights)",
    "random": "random direction",
    "random_eigenvector": "random eigenvector",
    "mean_difference": "mean-image difference",
    "fgsm": "FGSM (L2)",
    "pgd": "PGD (L2)",
}


def adversarial_figures(study: AdversarialStudy, d_hidden: int, epochs: int, noise: float) -> dict[str, go.Figure]:
    """adversarial_vs_alpha and adversarial_masks; d_hidden, epochs, noise: how the models were trained."""
    trained = f"d={d_hidden}, {epochs} epochs, training noise {noise:g}"
    return {
        "adversarial_vs_alpha": measures_vs_alpha(study, trained),
        "adversarial_masks": mask_grid(study, trained),
    }


def _aim(study: AdversarialStudy, dataset: str) -> str:
    target = study.attack.target
    return "untargeted" if target is None else f"target {DATASETS[dataset].classes[target]}"


def measures_vs_alpha(study: AdversarialStudy, trained: str) -> go.Figure:
    """A row per dataset; accuracy left, success right; a line and band per method."""
    bands = study.bands()
    success = "misclassified" if study.attack.target is None else "predicted as the target"
    columns = {"accuracy": "accuracy", "success": success}
    fig = make_subplots(
        rows=len(study.datasets),
        cols=2,
        subplot_titles=[
            f"{DATASETS[d].title} ({_aim(study, d)}): {c}" for d in study.datasets for c in columns.values()
        ],
        horizontal_spacing=0.1,
        vertical_spacing=0.14 if len(study.datasets) > 1 else 0.02,
    )
    x = [float(a) for a in study.attack.alphas]
    for r, dataset in enumerate(study.datasets, start=1):
        for c, measure in enumerate(columns, start=1):
            for i, method in enumerate(METHODS):  # every band first: no band covers a mean line
                band = bands[(dataset, method, ALL, measure)]
                fig.add_trace(band_trace(x, band.low.tolist(), band.high.tolist(), CLASS_COLOURS[i], method), r, c)
            for i, method in enumerate(METHODS):
                line = go.Scatter(
                    x=x, y=bands[(dataset, method, ALL, measure)].mean.tolist(), mode="lines+markers",
                    line={"color": CLASS_COLOURS[i]}, name=METHOD_LABELS[method], legendgroup=method,
                    showlegend=r == 1 and c == 1,
                )  # fmt: skip
                fig.add_trace(line, r, c)
            fig.update_yaxes(range=[-0.02, 1.02], title_text=columns[measure] if c == 1 else "", row=r, col=c)
            fig.update_xaxes(title_text="α (L2 norm of the change)" if r == len(study.datasets) else "", row=r, col=c)
    seeds = len(study.seeds)
    clamp = "clamped to [0, 1]" if study.attack.clamp else "not clamped"
    k = study.attack.components
    if study.attack.target is None:
        how = f"eigen mask: pinv of each class's {k} most negative eigenvectors × |λ|, given to its own images"
    else:
        how = f"eigen mask: pinv of the target's top {k} eigenvectors × λ; the target's own images left out"
    subtitle = (
        f"mean and 90% Student-t band over {seeds} seed{'s' if seeds > 1 else ''}, every method at the same L2 norm α "
        f"({clamp})<br>{how}; {trained}"
    )
    height = 360 * len(study.datasets) + 160
    return finish(fig, "Accuracy and attack success vs mask strength", (PLOT_SIZE[0] + 300, height), subtitle)


def _column(study: AdversarialStudy, classes: tuple[str, ...], c: int) -> str:
    return f"{classes[c]} (target)" if c == study.attack.target else classes[c]


def mask_grid(study: AdversarialStudy, trained: str) -> go.Figure:
    """The first seed's universal masks: a row per (dataset, method), a column per source class."""
    seed = study.seeds[0]
    images, titles, labels = [], [], []
    for dataset in study.datasets:
        classes = DATASETS[dataset].classes
        for method in MASKS:
            rows = study.masks[(dataset, seed)][method]
            images += [row.cpu().view(28, 28) for row in rows]
            titles += [_column(study, classes, c) if method == MASKS[0] else "" for c in range(len(classes))]
            labels.append(f"{DATASETS[dataset].title}: {METHOD_LABELS[method]}")
    aim = "untargeted: masks from each class's own most negative eigenvectors"
    if study.attack.target is not None:
        aim = f"targeted: {_aim(study, study.datasets[0])}, whose own images are not attacked"
    return image_grid(
        images,
        titles,
        cols=len(DATASETS[study.datasets[0]].classes),
        title="Adversarial masks and their controls, per source class",
        row_labels=labels,
        cell=80,
        subtitle=f"column: the class whose images get the mask ({aim})<br>"
        f"blue +, red −, each scaled to max |value| = 1; seed {seed}, {trained}",
    )
