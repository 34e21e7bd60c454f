"""featvis's CSV rows, built from the render results (plain dicts; the run folder writes them)."""

from __future__ import annotations

import torch

from bilin.featvis.measures import fraction_of_best, image_norms


def curve_rows(curve: torch.Tensor, labels: list[str]) -> list[dict]:
    """curve (steps, targets, images) -> one row per step, target and image."""
    steps, n_targets, per_target = curve.shape
    return [
        {"step": s, "target": labels[t], "image": i, "activation": float(curve[s, t, i])}
        for s in range(steps)
        for t in range(n_targets)
        for i in range(per_target)
    ]


def activation_rows(
    images: torch.Tensor,
    activations: torch.Tensor,
    labels: list[str],
    top_eigenvalues: torch.Tensor | None,
    seen: dict[str, torch.Tensor] | None = None,
) -> list[dict]:
    """images (targets, images, c, h, w), activations (targets, images) -> one row per image with its
    norm, and with top_eigenvalues (targets,) (lambda_max of M_c, NaN for targets that are not a
    bilinear MLP's class) its logit as a fraction of the best at that norm; blank without. `seen`:
    further per-image measures (targets, images) by column name (MACO's seen-image measures)."""
    norms = image_norms(images)
    fractions = None if top_eigenvalues is None else fraction_of_best(activations, norms, top_eigenvalues)
    n_targets, per_target = activations.shape
    return [
        {
            "target": labels[t],
            "image": i,
            "activation": float(activations[t, i]),
            "norm": float(norms[t, i]),
            "fraction_of_best": "" if fractions is None or fractions[t, i].isnan() else float(fractions[t, i]),
            **{name: float(values[t, i]) for name, values in (seen or {}).items()},
        }
        for t in range(n_targets)
        for i in range(per_target)
    ]


def ladder_rows(
    results: dict, labels: list[str], top_eigenvalues: torch.Tensor | None, seen: dict[str, dict] | None = None
) -> list[dict]:
    """{step name: RenderResult} -> activation_rows of every step, each with its step's name; `seen`:
    per step name, its further measures (activation_rows' `seen`). Every row has every column."""
    columns = dict.fromkeys(c for measures in (seen or {}).values() for c in measures)
    rows = [
        {"step": name, **row}
        for name, result in results.items()
        for row in activation_rows(result.images, result.activations, labels, top_eigenvalues, (seen or {}).get(name))
    ]
    return [{**row, **{c: row.get(c, "") for c in columns}} for row in rows]
