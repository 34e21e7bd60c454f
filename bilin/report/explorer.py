"""The eigenvector explorer: one self-contained HTML page per ungated bilinear model.

For class c the logit is exactly logit_c(x) = sum_k lambda_k (u_k . x)^2 (with biases, in [x; 1]:
the page then also holds each kept vector's constant coordinate and the biases), so the page
needs no server: it holds the top-K components of each class by |lambda| (the truncated logits of
the slider, the images, the contributions) and the model's own weights (the full logits, the
slider's last stop "all d"), and computes both in the browser as the user draws. Eigenvectors are
oriented so that the class's own test images project positively on average (mean u.x > 0).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bilin.analysis.adversarial import eigen_mask
from bilin.analysis.decompose import bilinear_biases, bilinear_weights, eigendecompose, orient_to_class
from bilin.analysis.truncate import components_by_magnitude
from bilin.errors import UserError
from bilin.figures.style import DIVERGING, NEGATIVE, POSITIVE
from bilin.models.checkpoint import load_model, load_spec, model_dataset
from bilin.report.safe import csp_meta, escape, script_json

TOP_K = 32  # components per class kept on the page: the page stays ~3 MB at d=512
IMAGES_PER_CLASS = 10  # test images offered by the picker
MASK_COMPONENTS = 3  # eigenvectors in each class's adversarial mask (bilin adversarial's default)


@dataclass
class ExplorerData:
    """What the page holds. Shapes: C classes, d hidden, K kept components, I = H*W inputs (with
    biases, the d + 1 components of [x; 1]: `values` is (C, d + 1))."""

    name: str
    dataset: str
    classes: list[str]
    shape: tuple[int, int]  # (H, W)
    values: torch.Tensor  # (C, d) every eigenvalue, descending
    top_values: torch.Tensor  # (C, K) by descending |lambda|
    top_rank: torch.Tensor  # (C, K) each kept component's position in `values`
    top_vectors: torch.Tensor  # (C, K, I) u_k = E^T v_k, oriented
    embed: torch.Tensor  # (d, I)
    left: torch.Tensor  # (d, d)
    right: torch.Tensor  # (d, d)
    head: torch.Tensor  # (C, d)
    images: torch.Tensor  # (N, I) in [0, 1]
    labels: torch.Tensor  # (N,)
    indices: torch.Tensor  # (N,) each image's index in the test split (as `explain=` counts)
    # a model with biases (its eigenvectors in [x; 1]): top_vectors are their image parts, these the rest
    top_constants: torch.Tensor | None = None  # (C, K) each kept vector's constant coordinate
    biases: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # b_L (d,), b_R (d,), b_U (C,)
    # (C, I) each class's unit adversarial mask (bilin.analysis.adversarial.eigen_mask); None with biases
    masks: torch.Tensor | None = None


def page_version() -> str:
    """What a built page depends on besides its model: the page's code and what it keeps."""
    assets = files("bilin.report") / "assets"
    code = "".join((assets / name).read_text() for name in ("explorer.html", "explorer.js"))
    return hashlib.sha256(f"{code}|{TOP_K}|{IMAGES_PER_CLASS}|{MASK_COMPONENTS}".encode()).hexdigest()[:16]


def explorable(folder: Path) -> str | None:
    """None when the folder's model can be explored, else why not (one short phrase)."""
    try:
        spec = load_spec(folder)
    except UserError as exc:
        return str(exc)
    if spec.kind != "bilinear" or spec.gate is not None:
        return f"{spec.kind} model{' with gate ' + spec.gate if spec.gate else ''}: not an exact quadratic form"
    if spec.input_shape[0] != 1:
        return "colour input: the explorer draws grey images"
    return None


def explorer_data(folder: Path, test_x: torch.Tensor, test_y: torch.Tensor, top_k: int = TOP_K) -> ExplorerData:
    """The page's content for the model in `folder`, with test images (N, 1, H, W) uint8 and labels (N,)."""
    spec = load_spec(folder)
    model = load_model(folder)
    x = test_x.flatten(1).float() / 255
    eigen = orient_to_class(eigendecompose(model), x, test_y)
    ranked = components_by_magnitude(eigen)
    d = eigen.values.shape[1]
    k = min(top_k, d)
    # position of each ranked component in the descending spectrum (stable: ties keep eigh's order)
    order = eigen.values.abs().argsort(dim=1, descending=True, stable=True)[:, :k]
    embed, left, right, head = bilinear_weights(model)
    constants = ranked.constants
    C = len(spec.classes)
    masks = None if eigen.constant else torch.stack([eigen_mask(eigen, c, min(MASK_COMPONENTS, d)) for c in range(C)])
    picks = torch.cat([(test_y == c).nonzero()[:IMAGES_PER_CLASS, 0] for c in range(C)])
    return ExplorerData(
        name=folder.name,
        dataset=model_dataset(folder) or "",
        classes=list(spec.classes),
        shape=tuple(spec.input_shape[1:]),
        values=eigen.values.flip(1),
        top_values=ranked.values[:, :k],
        top_rank=d - 1 - order,
        top_vectors=ranked.images[:, :k],
        embed=embed,
        left=left,
        right=right,
        head=head,
        images=x[picks],
        labels=test_y[picks],
        indices=picks,
        top_constants=None if constants is None else constants[:, :k],
        biases=bilinear_biases(model),
        masks=masks,
    )


def truncated_and_full(data: ExplorerData, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The page's two computations in Python, from the page's own (float16) numbers: (K, C) logits
    with the top-1..K components, and (C,) full logits. Used to check the page and its tolerance."""
    vectors, embed, left, right, head = (
        _as_stored(t) for t in (data.top_vectors, data.embed, data.left, data.right, data.head)
    )
    projections, hidden = vectors @ x.double(), embed @ x.double()
    left_hidden, right_hidden = left @ hidden, right @ hidden
    if data.biases is None:
        return (data.top_values.double() * projections.square()).cumsum(1).T, head @ (left_hidden * right_hidden)
    left_bias, right_bias, head_bias = (_as_stored(t) for t in data.biases)
    terms = data.top_values.double() * (projections + _as_stored(data.top_constants)).square()
    return terms.cumsum(1).T, head @ ((left_hidden + left_bias) * (right_hidden + right_bias)) + head_bias


def explorer_html(data: ExplorerData, plotly_src: str) -> str:
    """The page: the template with the data embedded, plotly.js loaded from `plotly_src`."""
    payload = {
        "name": data.name,
        "dataset": data.dataset,
        "classes": data.classes,
        "shape": list(data.shape),
        "values": _array(data.values, "f4"),
        "topValues": _array(data.top_values, "f4"),
        "topRank": _array(data.top_rank, "i4"),
        "topVectors": _array(data.top_vectors, "f2"),
        "embed": _array(data.embed, "f2"),
        "left": _array(data.left, "f2"),
        "right": _array(data.right, "f2"),
        "head": _array(data.head, "f2"),
        "images": _array((data.images * 255).round(), "u1"),
        "labels": _array(data.labels, "i4"),
        "indices": _array(data.indices, "i4"),
        "colours": {"diverging": DIVERGING, "positive": POSITIVE, "negative": NEGATIVE},  # as in every figure
    }
    if data.masks is not None:
        payload.update(masks=_array(data.masks, "f4"), maskComponents=min(MASK_COMPONENTS, data.values.shape[1]))
    if data.biases is not None:
        payload["topConstants"] = _array(data.top_constants, "f2")
        payload.update(zip(("leftBias", "rightBias", "headBias"), (_array(b, "f2") for b in data.biases), strict=True))
    assets = files("bilin.report") / "assets"
    script = (assets / "explorer.js").read_text()
    values = {  # filled in one pass, so a value holding "{{...}}" is never filled in itself
        "csp": csp_meta([script]),
        "title": escape(f"{data.name}: eigenvector explorer"),
        "plotly": escape(plotly_src),
        "data": script_json(json.dumps(payload, separators=(",", ":"))),
        "script": script,
    }
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], (assets / "explorer.html").read_text())


def _as_stored(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float16).double()


def _array(t: torch.Tensor, dtype: str) -> dict[str, Any]:
    """A tensor as {dtype, shape, base64 of its little-endian bytes}."""
    array = t.detach().cpu().numpy().astype(np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(array.shape), "b64": base64.b64encode(array.tobytes()).decode()}
