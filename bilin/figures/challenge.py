"""`bilin challenge`'s figures: the target, its complement and the rule logit's top eigenvectors per
seed (rule models, then their shuffled-label controls), and the recovery scores and spectra against
the control (mean and 90% t band over seeds)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bilin.analysis.planted_rule import CONDITIONS, ChallengeStudy
from bilin.figures.eigen import image_grid
from bilin.figures.frequency import CLASS_COLOURS
from bilin.figures.style import PLOT_SIZE, band_trace, finish, signed

LABELS = {"rule": "trained on the rule", "shuffled": "control: labels shuffled"}
SCORES = {  # the |cos| measures of the bar panel, as its axis names them
    "span_target": "t in span",
    "span_complement": "1 − t in span",
    "cos_target": "best single: t",
    "cos_complement": "best single: 1 − t",
}


def challenge_figures(study: ChallengeStudy, rule: str, trained: str) -> dict[str, go.Figure]:
    """challenge_eigenvectors and challenge_scores; rule and trained: the task and the models, as subtitles say them."""
    return {
        "challenge_eigenvectors": eigenvector_grid(study, rule, trained),
        "challenge_scores": scores_figure(study, rule, trained),
    }


def eigenvector_grid(study: ChallengeStudy, rule: str, trained: str) -> go.Figure:
    """A row per model (rule models first, then the controls): t, 1 - t and its top eigenvectors."""
    side = round(study.target.numel() ** 0.5)
    target = study.target.view(side, side).float()
    images, titles, labels, grey = [], [], [], []
    for condition in CONDITIONS:
        for r in study.of(condition):
            images += [target, 1 - target] + [u.view(side, side).float() for u in r.top_images]
            grey += [True, True] + [False] * len(r.top_images)
            titles += ["target t", "complement 1 − t"] + [
                f"λ={signed(float(v))}: cos {signed(float(a))}, {signed(float(b))}"
                for v, (a, b) in zip(r.top_values, r.top_cosines, strict=True)
            ]
            labels.append(f"{LABELS[condition]}, seed {r.seed}")
    fig = image_grid(
        images,
        titles,
        cols=len(images) // len(labels),
        title="The rule logit's top eigenvectors against the planted target and its complement",
        row_labels=labels,
        cell=130,
        subtitle=f"{rule}; above each eigenvector: its λ and cos with t, then with 1 − t (image part; biases folded)"
        f"<br>t and 1 − t black to white; eigenvectors blue +, red −, each scaled to max |value| = 1, signed so "
        f"that the larger cosine is positive; {trained}",
        grey=grey,
    )
    frame = {"showline": True, "mirror": True, "linecolor": "rgb(170,170,170)"}  # 1 - t is mostly white
    for row in range(1, len(labels) + 1):
        fig.update_xaxes(**frame, row=row, col=2)
        fig.update_yaxes(**frame, row=row, col=2)
    return fig


def scores_figure(study: ChallengeStudy, rule: str, trained: str) -> go.Figure:
    """|cos| scores and effective rank, rule vs control (bars with 90% t bands), and the spectra."""
    bands = study.bands()
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.45, 0.15, 0.4],
        subplot_titles=["|cos| with the target and complement", "effective rank", "spectrum of the rule logit"],
        horizontal_spacing=0.08,
    )
    for i, condition in enumerate(CONDITIONS):
        colour = CLASS_COLOURS[i]
        for col, measures in ((1, list(SCORES)), (2, ["effective_rank"])):
            b = [bands[(condition, m)] for m in measures]
            mean = [float(x.mean[0]) for x in b]
            above = [float(x.high[0]) - m for x, m in zip(b, mean, strict=True)]
            below = [m - float(x.low[0]) for x, m in zip(b, mean, strict=True)]
            bar = go.Bar(
                x=[SCORES.get(m, "effective rank") for m in measures], y=mean, name=LABELS[condition],
                marker_color=colour, legendgroup=condition, showlegend=col == 1,
                error_y={"type": "data", "symmetric": False, "array": above, "arrayminus": below},
            )  # fmt: skip
            fig.add_trace(bar, row=1, col=col)
        spectrum = study.spectrum_bands(condition)
        ranks = list(range(len(spectrum.mean)))
        fig.add_trace(band_trace(ranks, spectrum.low.tolist(), spectrum.high.tolist(), colour, condition), 1, 3)
        line = go.Scatter(
            x=ranks, y=spectrum.mean.tolist(), mode="lines+markers", marker={"size": 4}, line={"color": colour},
            name=LABELS[condition], legendgroup=condition, showlegend=False,
        )  # fmt: skip
        fig.add_trace(line, row=1, col=3)
    fig.update_yaxes(range=[0, 1.05], title_text="|cos|", row=1, col=1)
    fig.update_xaxes(title_text="rank (largest eigenvalue first)", row=1, col=3)
    fig.update_yaxes(title_text="eigenvalue", row=1, col=3)
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.25, "x": 0})
    seeds = len(study.seeds)
    over = f"{seeds} seed{'s' if seeds > 1 else ''}" + (" (one seed: no band)" if seeds == 1 else "")
    subtitle = (
        f"{rule}; span: t (or 1 − t) against its projection onto the top eigenvectors; best single: one eigenvector"
        f"<br>mean and 90% Student-t band over {over}; {trained}"
    )
    return finish(fig, "Is the planted rule in the weights? Rule models against shuffled-label controls",
                  (PLOT_SIZE[0] + 420, PLOT_SIZE[1] + 60), subtitle)  # fmt: skip
