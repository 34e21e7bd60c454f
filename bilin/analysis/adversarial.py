"""Adversarial masks read from the weights (the paper's section 4.4), against controls of equal norm.

The eigen mask of class c (docs/science.md section 9) is built from the weights alone: take the
class's `components` eigenpairs (lambda_j, u_j) of largest eigenvalue (untargeted: of most negative
eigenvalue), the eigenvectors in input space (u = E^T v) and signed by orient_to_class; with
U = [u_1; ...; u_k] (k x inputs) and |lambda| = (|lambda_1|, ..., |lambda_k|),
    m_c = pinv(U) |lambda|,    mask = m_c / ||m_c||
the shortest image whose projections are u_j . m_c = |lambda_j|: each chosen eigenvector is excited in
proportion to its eigenvalue (the u are not orthogonal, so u_j itself would excite the others too).
An image x becomes x + alpha * mask (clamped to [0, 1] when asked). Targeted (target t): every image
gets t's mask (top positive eigenvectors: the target logit grows); untargeted: an image of class y
gets y's mask from y's most negative eigenvectors (its own logit falls).

Controls, each scaled to the same L2 norm alpha (before a clamp): a random Gaussian direction; a
random eigenvector of the same class (t, or y untargeted); the mean-image difference (training set:
mean of t minus mean of y; untargeted: mean of the other classes minus mean of y); and the gradient
attacks FGSM (one L2-normalised gradient step) and PGD (steps on the L2 sphere of radius alpha), the
upper reference that sees each image and the model's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from bilin.analysis.decompose import Eigen
from bilin.analysis.stats import Band, t_band

MASKS = ("eigen", "random", "random_eigenvector", "mean_difference")  # universal: one direction per source class
METHODS = (*MASKS, "fgsm", "pgd")
MEASURES = ("accuracy", "success")
ALL = "all"  # the source label of the rows over every evaluated image


def check_alphas(alphas: Sequence[float]) -> None:
    if not alphas or any(not math.isfinite(a) or a < 0 for a in alphas):
        raise ValueError(f"alphas={list(alphas)} must be finite numbers >= 0, at least one")


def eigen_mask(eigen: Eigen, cls: int, components: int, negative: bool = False) -> torch.Tensor:
    """(inputs,) unit-norm mask of class cls: pinv(U) |lambda| over its top (or most negative) eigenpairs."""
    values, vectors = eigen.values[cls], eigen.vectors[cls]
    chosen = values.argsort(descending=not negative)[:components]
    mask = torch.linalg.pinv(vectors[chosen].double()) @ values[chosen].abs().double()
    return (mask / mask.norm()).to(vectors.dtype)


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def mask_directions(
    eigen: Eigen,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    target: int | None,
    components: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Each universal method's unit direction for the images of each source class: (classes, inputs).
    Nothing here sees a test image or a gradient: the eigen mask and the random eigenvector come from
    the weights, the mean difference from the training images' class means."""
    classes, inputs = eigen.values.shape[0], eigen.vectors.shape[-1]
    x = train_x.flatten(1).to(eigen.vectors)
    means = torch.stack([x[train_y.to(x.device) == c].mean(0) for c in range(classes)])
    sources = range(classes)
    if target is None:
        eigen_rows = torch.stack([eigen_mask(eigen, c, components, negative=True) for c in sources])
        picks = torch.randint(eigen.values.shape[1], (classes,), generator=generator)
        random_eigenvectors = eigen.vectors[torch.arange(classes), picks.to(eigen.vectors.device)]
        others = (means.sum(0, keepdim=True) - means) / (classes - 1)
        difference = others - means
    else:
        eigen_rows = eigen_mask(eigen, target, components).expand(classes, -1)
        pick = int(torch.randint(eigen.values.shape[1], (1,), generator=generator))
        random_eigenvectors = eigen.vectors[target, pick].expand(classes, -1)
        difference = means[target] - means
        difference[target] = means[target] - means.mean(0)  # the target's own images are not evaluated
    noise = torch.randn(1, inputs, generator=generator).to(eigen.vectors).expand(classes, -1)
    rows = {"eigen": eigen_rows, "random": noise, "random_eigenvector": random_eigenvectors}
    rows["mean_difference"] = difference
    return {name: _unit_rows(direction.clone()) for name, direction in rows.items()}


def _loss_gradient(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, target: int | None) -> torch.Tensor:
    """The direction that raises the attack's objective: CE of the true class, or -CE of the target."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    if target is None:
        loss = F.cross_entropy(logits, y, reduction="sum")
    else:
        loss = -F.cross_entropy(logits, torch.full_like(y, target), reduction="sum")
    return torch.autograd.grad(loss, x)[0]


def gradient_attack(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    target: int | None,
    alpha: float,
    steps: int,
    clamp: bool,
) -> torch.Tensor:
    """(n, inputs) perturbations of L2 norm alpha each: FGSM (steps=0) or PGD on the sphere of radius
    alpha (steps > 0, step size 2.5 alpha / steps as Madry et al., started from FGSM)."""
    squash = (lambda z: z.clamp(0, 1)) if clamp else (lambda z: z)
    delta = alpha * _unit_rows(_loss_gradient(model, squash(x), y, target))
    for _ in range(steps):
        step = (2.5 * alpha / steps) * _unit_rows(_loss_gradient(model, squash(x + delta), y, target))
        delta = alpha * _unit_rows(delta + step)
    return delta.detach()


def quadratic_logits(eigen: Eigen, x: torch.Tensor, mask: torch.Tensor, alpha: float) -> torch.Tensor:
    """(n, classes) logits of x + alpha * mask from the weights: sum_k lambda_k (u_k . x + alpha u_k . mask)^2."""
    projections = torch.einsum("cki,ni->nck", eigen.vectors, x.flatten(1).to(eigen.vectors))
    shifts = torch.einsum("cki,i->ck", eigen.vectors, mask.to(eigen.vectors))
    return torch.einsum("nck,ck->nc", (projections + alpha * shifts).square(), eigen.values)


@dataclass
class Attack:
    """What one model is attacked with, and how."""

    alphas: Sequence[float]
    target: int | None
    components: int
    clamp: bool
    pgd_steps: int


def attack_model(
    model: torch.nn.Module,
    eigen: Eigen,
    x: torch.Tensor,
    y: torch.Tensor,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    attack: Attack,
    seed: int,
) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Every method at every alpha on the test images x (n, inputs) in [0, 1] with labels y: rows of
    accuracy (prediction = y), success (prediction = target; untargeted: prediction != y) and the mean
    L2 norm of the change actually made, per source class and over all; and the universal masks."""
    check_alphas(attack.alphas)
    keep = y != attack.target if attack.target is not None else torch.ones_like(y, dtype=torch.bool)
    x, y = x.flatten(1)[keep].float(), y[keep].long()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        masks = mask_directions(eigen, train_x, train_y, attack.target, attack.components, generator)
    rows = []
    for alpha in attack.alphas:
        for method in METHODS:
            if method in MASKS:
                delta = alpha * masks[method].to(x)[y]
            else:
                steps = attack.pgd_steps if method == "pgd" else 0
                delta = gradient_attack(model, x, y, attack.target, alpha, steps, attack.clamp)
            changed = (x + delta).clamp(0, 1) if attack.clamp else x + delta
            with torch.no_grad():
                predicted = model(changed).argmax(1)
            hit = predicted == attack.target if attack.target is not None else predicted != y
            norm = (changed - x).norm(dim=1)
            for source in [ALL, *sorted(set(y.tolist()))]:
                chosen = torch.ones_like(y, dtype=torch.bool) if source == ALL else y == source
                rows.append(
                    {
                        "seed": seed, "method": method, "alpha": alpha, "source": source,
                        "accuracy": float((predicted == y)[chosen].float().mean()),
                        "success": float(hit[chosen].float().mean()),
                        "norm": float(norm[chosen].mean()), "images": int(chosen.sum()),
                    }
                )  # fmt: skip
    return rows, masks


@dataclass
class AdversarialStudy:
    """Rows of every (dataset, seed) attacked, and the masks of each (dataset, seed)."""

    datasets: Sequence[str]
    seeds: Sequence[int]
    attack: Attack
    rows: list[dict] = field(default_factory=list)
    masks: dict[tuple[str, int], dict[str, torch.Tensor]] = field(default_factory=dict)

    def add(self, dataset: str, seed: int, rows: list[dict], masks: dict[str, torch.Tensor]) -> None:
        self.rows += [{"dataset": dataset, "target": _target(self.attack.target), **r} for r in rows]
        self.masks[(dataset, seed)] = masks

    def bands(self) -> dict[tuple[str, str, object, str], Band]:
        """(dataset, method, source, measure) -> its mean and 90% t band over seeds along alpha."""
        table: dict[tuple, dict[int, dict[float, float]]] = {}
        for r in self.rows:
            for measure in MEASURES:
                by_seed = table.setdefault((r["dataset"], r["method"], r["source"], measure), {})
                by_seed.setdefault(r["seed"], {})[r["alpha"]] = r[measure]
        return {
            k: t_band(torch.tensor([[v[a] for a in self.attack.alphas] for v in per_seed.values()])).clipped(0, 1)
            for k, per_seed in table.items()
        }

    def band_rows(self) -> list[dict]:
        rows = []
        for (dataset, method, source, measure), band in self.bands().items():
            labels = {"dataset": dataset, "target": _target(self.attack.target), "method": method}
            rows += band.rows("alpha", list(self.attack.alphas), **labels, source=source, measure=measure)
        return rows

    def tables(self) -> dict[str, list[dict]]:
        return {"adversarial.csv": self.rows, "adversarial_bands.csv": self.band_rows()}

    def mask_tensors(self) -> dict[str, torch.Tensor]:
        """'<dataset>.<method>': (seeds, classes, inputs), row c the direction given to class c's images."""
        return {
            f"{d}.{m}": torch.stack([self.masks[(d, s)][m].cpu() for s in self.seeds]).contiguous()
            for d in self.datasets
            for m in MASKS
        }

    def headline(self) -> dict[str, float]:
        """Per dataset and method, the mean over seeds at the largest alpha, over all images."""
        top = max(self.attack.alphas)
        at = list(self.attack.alphas).index(top)
        bands = self.bands()
        return {
            f"{measure}.{d}.{m}.alpha{top:g}": float(bands[(d, m, ALL, measure)].mean[at])
            for d in self.datasets
            for m in METHODS
            for measure in MEASURES
        }


def _target(target: int | None) -> str:
    return "none" if target is None else str(target)
