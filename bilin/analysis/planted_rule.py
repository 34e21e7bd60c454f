"""A planted rule read back from the weights (the paper's section 4.3, docs/science.md section 10).

A model with two outputs (0: other, 1: rule) decides by the rule logit, logit_1 - logit_0, a quadratic
form in the augmented input [x; 1] (biases folded, bilin/analysis/decompose.py):
    logit_1(x) - logit_0(x) = [x; 1]^T M [x; 1],   M = E'^T (Q_1 - Q_0) E'.
Its eigenvectors are orthonormal in [x; 1]; those of largest eigenvalue are what most raises "rule".
If the model learnt the rule "cos(x, t) > θ or cos(x, 1 - t) > θ", they should span the target t
and its complement 1 - t. Per model, over the image part of the top `components` eigenvectors:
  - cos_target, cos_complement: the largest |cos| of one eigenvector with t (with 1 - t);
  - span_target, span_complement: |cos| of t (1 - t) with its projection onto their span, the share
    of it they hold (t and 1 - t need not be orthogonal, so one eigenvector may mix both);
  - effective_rank: exp of the entropy of |λ| / Σ|λ| over the whole spectrum.
The control is the same model trained on the same labels shuffled. Bands are 90% Student-t over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bilin.analysis.decompose import Eigen, input_space_eigen, quadratic_form
from bilin.analysis.effective_rank import effective_rank
from bilin.analysis.stats import Band, t_band
from bilin.errors import UserError

CONDITIONS = ("rule", "shuffled")  # trained on the rule's labels | on the same labels shuffled (the control)
MEASURES = {  # per model, each banded over seeds
    "span_target": "|cos| of the target with its projection onto the top eigenvectors' span",
    "span_complement": "|cos| of the complement 1 - t with its projection onto that span",
    "cos_target": "largest |cos| of one top eigenvector with the target",
    "cos_complement": "largest |cos| of one top eigenvector with the complement",
    "effective_rank": "effective rank of the rule logit's spectrum: exp(entropy of |λ| / Σ|λ|)",
    "val_acc": "accuracy on the test images' labels (the rule's, or shuffled for the control)",
}


def rule_eigen(model: torch.nn.Module) -> Eigen:
    """The rule logit's input-space eigendecomposition: one 'class', values (1, k) ascending and
    vectors (1, k, inputs [+ 1 with biases]) orthonormal."""
    embed, Q, constant = quadratic_form(model)
    if len(Q) != 2:
        raise UserError(f"the rule logit is logit_1 - logit_0 of a model with two outputs; this one has {len(Q)}")
    return input_space_eigen(embed, (Q[1] - Q[0])[None], constant)


def _abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|cos| of each row of a (n, inputs) with b (inputs,); 0 for a zero row."""
    norms = a.norm(dim=1) * b.norm()
    return (a @ b).abs() / norms.clamp_min(torch.finfo(a.dtype).tiny)


def span_share(basis: torch.Tensor, vector: torch.Tensor) -> float:
    """|cos| of vector (inputs,) with its orthogonal projection onto the span of basis's rows (k, inputs)."""
    q, _ = torch.linalg.qr(basis.mT)
    return float((q.mT @ vector).norm() / vector.norm())


@dataclass
class Recovery:
    """One model's reading: its condition and seed, the top eigenvectors' images (components, inputs),
    signed so that the larger of their cosines with t and 1 - t is positive), their eigenvalues
    (descending), the whole spectrum (ascending) and the measures."""

    condition: str
    seed: int
    top_images: torch.Tensor
    top_values: torch.Tensor
    top_cosines: torch.Tensor  # (components, 2): each signed top image's cos with t and with 1 - t
    spectrum: torch.Tensor
    scores: dict[str, float]

    def top_rows(self) -> list[dict]:
        return [
            {"condition": self.condition, "seed": self.seed, "rank": k, "eigenvalue": float(v)}
            | {"cos_target": float(c[0]), "cos_complement": float(c[1])}
            for k, (v, c) in enumerate(zip(self.top_values, self.top_cosines, strict=True))
        ]


def recover(eigen: Eigen, target: torch.Tensor, components: int, val_acc: float, condition: str, seed: int) -> Recovery:
    """The measures of one rule logit (rule_eigen) against the target image t (inputs,) in [0, 1]."""
    values, images = eigen.values[0].double(), eigen.images[0].double()
    top = values.argsort(descending=True)[:components]
    target = target.double().flatten()
    complement = 1 - target
    chosen = images[top]
    to_target, to_complement = chosen @ target / target.norm(), chosen @ complement / complement.norm()
    larger = torch.where(to_target.abs() >= to_complement.abs(), to_target, to_complement)  # cos x |u|
    signs = torch.where(larger < 0, -1.0, 1.0).to(chosen)
    norms = chosen.norm(dim=1).clamp_min(torch.finfo(chosen.dtype).tiny)
    cosines = torch.stack([to_target, to_complement], dim=1) * (signs / norms)[:, None]
    scores = {
        "span_target": span_share(chosen, target),
        "span_complement": span_share(chosen, complement),
        "cos_target": float(_abs_cos(chosen, target).max()),
        "cos_complement": float(_abs_cos(chosen, complement).max()),
        "effective_rank": float(effective_rank(values)),
        "val_acc": val_acc,
    }
    return Recovery(condition, seed, chosen * signs[:, None], values[top], cosines, values, scores)


@dataclass
class ChallengeStudy:
    """Every model's Recovery, the target image and the label balance of the rule (labels.csv)."""

    seeds: Sequence[int]
    target: torch.Tensor  # (inputs,) in [0, 1]
    labels: list[dict] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)

    def of(self, condition: str) -> list[Recovery]:
        return [r for r in self.recoveries if r.condition == condition]

    def bands(self) -> dict[tuple[str, str], Band]:
        """(condition, measure) -> its band over seeds (one point), cut to the measure's range."""
        rank = len(self.recoveries[0].spectrum)
        return {
            (c, m): t_band(torch.tensor([[r.scores[m]] for r in self.of(c)], dtype=torch.float64)).clipped(
                *((1, rank) if m == "effective_rank" else (0, 1))
            )
            for c in CONDITIONS
            for m in MEASURES
        }

    def spectrum_bands(self, condition: str) -> Band:
        """The spectrum in descending order, one point per rank, banded over seeds."""
        return t_band(torch.stack([r.spectrum.flip(0) for r in self.of(condition)]))

    def rows(self) -> list[dict]:
        return [{"condition": r.condition, "seed": r.seed, **r.scores} for r in self.recoveries]

    def band_rows(self) -> list[dict]:
        return [
            {"condition": c, "measure": m, "description": MEASURES[m]}
            | {"mean": float(b.mean[0]), "low": float(b.low[0]), "high": float(b.high[0]), "samples": b.samples}
            | {"confidence": b.confidence, "clipped_to": f"[{b.clip[0]:g}, {b.clip[1]:g}]"}
            for (c, m), b in self.bands().items()
        ]

    def spectrum_rows(self) -> list[dict]:
        """Every eigenvalue of every model, rank 0 the largest (the figure's spectrum is their band)."""
        rows = [
            {"condition": r.condition, "seed": r.seed, "rank": k, "eigenvalue": float(v), "low": "", "high": ""}
            for r in self.recoveries
            for k, v in enumerate(r.spectrum.flip(0))
        ]
        for c in CONDITIONS:
            band = self.spectrum_bands(c)
            rows += [
                {"condition": c, "seed": "mean", "rank": k, "eigenvalue": float(band.mean[k])}
                | {"low": float(band.low[k]), "high": float(band.high[k])}
                for k in range(len(band.mean))
            ]
        return rows

    def tables(self) -> dict[str, list[dict]]:
        return {
            "challenge.csv": self.rows(),
            "challenge_bands.csv": self.band_rows(),
            "challenge_spectrum.csv": self.spectrum_rows(),
            "challenge_eigenvectors.csv": [row for r in self.recoveries for row in r.top_rows()],
            "labels.csv": self.labels,
        }

    def headline(self) -> dict[str, float]:
        bands = self.bands()
        return {
            f"{m}.{c}": float(bands[(c, m)].mean[0]) for c in CONDITIONS for m in ("span_target", "span_complement")
        }


def label_balance(split: str, to_target: torch.Tensor, to_complement: torch.Tensor, threshold: float) -> dict:
    """labels.csv's row of one split, from its images' cosines with t and 1 - t: how many images, the share
    the rule labels 1 (either clause, as PlantedRule.labels) and by which clause."""
    by_target, by_complement = to_target > threshold, to_complement > threshold
    return {
        "split": split,
        "images": len(to_target),
        "rule_share": float((by_target | by_complement).double().mean()),
        "by_target": float(by_target.double().mean()),
        "by_complement": float(by_complement.double().mean()),
        "by_both": float((by_target & by_complement).double().mean()),
    }
