"""What changed between two bilinear models, exactly: per class, the difference of their logits' forms.

With M_A,c and M_B,c the input-space forms of class c (bilin.analysis.quadratic_moments.input_forms, both
in [x; 1] when either model has biases), D_c = M_A,c - M_B,c is itself a quadratic form: f_D = f_A - f_B.
Its eigendecomposition D_c = sum_i lambda_i v_i v_i^T, ordered by |lambda|, gives the input directions
along which the two models' logits differ most, and under a Gaussian input law x ~ N(mu, Sigma)
    distance_c = E[(f_A,c - f_B,c)^2] = E[f_D,c^2]           (quadratic_moments.second_moment of D with D)
is exact: E[f_D,c]^2 (the mean difference; `mean_part` is its share) plus Var(f_D,c). The top-k
directions' form f_D,k = sum_{i<=k} lambda_i (v_i . x)^2 leaves the residual form R_k = sum_{i>k} lambda_i
v_i v_i^T, so the share of the distance they explain, 1 - E[f_R_k^2] / E[f_D^2], is exact too. In the
eigenbasis, with G = V^T Sigma V and a = V^T mu (Isserlis, as in quadratic_moments):
    E[f_R^2] = sum_{i,j in S} l_i l_j (2 G_ij^2 + 4 a_i G_ij a_j) + (sum_{i in S} l_i (G_ii + a_i^2))^2,
S = {i > k}: one eigendecomposition and one product per class give every k at once. The share can be
negative: f_D,k and the residual are not orthogonal under the law (their means add).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from einops import einsum

from bilin.analysis.decompose import batched_eigh
from bilin.analysis.quadratic_moments import FormStats, InputLaw, align, input_forms, second_moment

ALL = "all"  # the row summing every class: distances add over classes
SIGN_RULE = "each direction signed so that its class's mean training image x has v · x ≥ 0"


@dataclass(frozen=True)
class FormPair:
    """Two models' forms in common coordinates: (classes, n, n) each, n = inputs (+ 1 in [x; 1])."""

    a: torch.Tensor
    b: torch.Tensor
    constant: bool  # the last coordinate is the constant input 1
    rank_bound: int  # rank(D_c) <= rank(M_A,c) + rank(M_B,c) <= this

    @classmethod
    def of(cls, model_a: torch.nn.Module, model_b: torch.nn.Module, inputs: int) -> FormPair:
        """`inputs`: the image's pixel count. Forms of models of any hidden sizes, with or without biases."""
        (a, constant_a), (b, constant_b) = input_forms(model_a), input_forms(model_b)
        constant = constant_a or constant_b
        if constant_a != constant_b:
            a, b = align(a, constant_a, inputs), align(b, constant_b, inputs)
        ranks = sum(m.embed.weight.shape[0] + int(c) for m, c in ((model_a, constant_a), (model_b, constant_b)))
        return cls(a, b, constant, min(ranks, a.shape[-1]))

    def law(self, law: InputLaw) -> InputLaw:
        """`law` (of x) in these coordinates."""
        return law.augmented() if self.constant else law


@dataclass(frozen=True)
class Spectrum:
    """D's eigenpairs per class, by |lambda| descending: values (classes, n), vectors (classes, n, n), row i
    the unit eigenvector of values[:, i]."""

    values: torch.Tensor
    vectors: torch.Tensor

    @classmethod
    def of(cls, difference: torch.Tensor) -> Spectrum:
        values, columns = batched_eigh(difference)
        order = values.abs().argsort(dim=1, descending=True, stable=True)
        vectors = columns.mT.gather(1, order[..., None].expand(-1, -1, columns.shape[-1]))
        return cls(values.gather(1, order), vectors)

    def signed(self, references: torch.Tensor) -> Spectrum:
        """Each vector's sign flipped so that v . reference_c >= 0 (references (classes, n)); f_D is unchanged."""
        flip = torch.where(einsum(self.vectors, references, "c k n, c n -> c k") < 0, -1.0, 1.0)
        return Spectrum(self.values, self.vectors * flip[..., None].to(self.vectors.dtype))


def tail_second_moments(spectrum: Spectrum, law: InputLaw, k_max: int) -> torch.Tensor:
    """(classes, k_max + 1): E[f_R_k^2] for k = 0..k_max, R_k the form of the eigenpairs after the top k
    (k = 0: D itself), under `law` in the spectrum's coordinates (the module's note)."""
    values, vectors = spectrum.values, spectrum.vectors
    sigma_v = vectors @ law.cov  # (c, n, n): row i = Sigma v_i
    gram = einsum(sigma_v, vectors, "c i n, c j n -> c i j")
    along = vectors @ law.mean  # (c, n): a_i = v_i . mu
    pairs = values[:, :, None] * values[:, None, :] * (2 * gram**2 + 4 * along[:, :, None] * gram * along[:, None, :])
    means = values * (gram.diagonal(dim1=1, dim2=2) + along**2)
    # suffix sums from the smallest |lambda| up, so a small residual is not the difference of two large sums
    pair_tails = pairs.flip(1, 2).cumsum(1).cumsum(2).diagonal(dim1=1, dim2=2).flip(1)
    mean_tails = means.flip(1).cumsum(1).flip(1)
    tails = pair_tails + mean_tails**2  # k = 0..n-1
    tails = torch.cat([tails, tails.new_zeros(len(tails), 1)], dim=1)  # k = n: nothing left
    return tails[:, : k_max + 1]


@dataclass(frozen=True)
class LawDistance:
    """One input law's exact numbers, per class."""

    law: str
    distance: torch.Tensor  # (classes,) E[(f_A - f_B)^2]
    mean: torch.Tensor  # (classes,) E[f_A - f_B]: the distance is mean^2 + Var(f_A - f_B)
    reference: torch.Tensor  # (classes,) E[f_A^2]
    tails: torch.Tensor  # (classes, components + 1) E[f_R_k^2], k = 0..components

    def shares(self) -> torch.Tensor:
        """(classes, components): 1 - E[f_R_k^2] / E[f_D^2] for k = 1..components; NaN where D = 0."""
        return 1 - self.tails[:, 1:] / _nan_if_zero(self.distance)[:, None]

    def overall(self) -> tuple[float, float, list[float]]:
        """Over all classes (the squared distance of the logit vectors): distance, relative distance, shares."""
        distance, reference = self.distance.sum(), self.reference.sum()
        shares = 1 - self.tails[:, 1:].sum(0) / _nan_if_zero(distance)
        return float(distance), float(distance / _nan_if_zero(reference)), shares.tolist()

    def mean_square(self) -> float:
        """Over all classes: the part of the distance that is the squared mean difference, sum_c E[f_D,c]^2."""
        return float((self.mean**2).sum())


def _nan_if_zero(value: torch.Tensor) -> torch.Tensor:
    return torch.where(value == 0, torch.nan, value)


def law_distance(pair: FormPair, spectrum: Spectrum, law: InputLaw, components: int) -> LawDistance:
    """The distance and explained shares of `pair` under `law` (of x)."""
    used = pair.law(law)
    stats_d, stats_a = FormStats.of(pair.a - pair.b, used), FormStats.of(pair.a, used)
    return LawDistance(
        law=law.name,
        distance=second_moment(stats_d, stats_d),
        mean=stats_d.means,
        reference=second_moment(stats_a, stats_a),
        tails=tail_second_moments(spectrum, used, components),
    )


@dataclass
class ModelDiff:
    """What `bilin diff` computed: D's spectrum per class, its top directions and the distances per law."""

    classes: Sequence[str]
    spectrum: Spectrum  # signed by SIGN_RULE
    components: int
    constant: bool
    rank_bound: int
    laws: list[LawDistance]

    @property
    def directions(self) -> torch.Tensor:
        """(classes, components, n): the top directions by |lambda| (unit norm; with biases the last
        coordinate is the constant's)."""
        return self.spectrum.vectors[:, : self.components]

    @property
    def top_values(self) -> torch.Tensor:
        return self.spectrum.values[:, : self.components]

    def images(self) -> torch.Tensor:
        """(classes, components, inputs): the directions' image part."""
        return self.directions[..., :-1] if self.constant else self.directions

    def tables(self) -> dict[str, list[dict]]:
        return {"diff.csv": self.distance_rows(), "diff_spectrum.csv": self.spectrum_rows()}

    def distance_rows(self) -> list[dict]:
        rows = []
        for result in self.laws:
            shares = result.shares()
            for c, name in enumerate(self.classes):
                distance, reference = float(result.distance[c]), float(result.reference[c])
                relative = distance / reference if reference else float("nan")
                mean = float(result.mean[c])
                rows.append(_row(name, result.law, distance, mean**2, relative, shares[c].tolist()))
            distance, relative, shares_all = result.overall()
            rows.append(_row(ALL, result.law, distance, result.mean_square(), relative, shares_all))
        return rows

    def spectrum_rows(self) -> list[dict]:
        """The eigenvalues of D that can be nonzero (rank(D_c) <= rank_bound), by |lambda|, ranks from 1."""
        return [
            {"class": name, "rank": k + 1, "eigenvalue": float(v)}
            for c, name in enumerate(self.classes)
            for k, v in enumerate(self.spectrum.values[c, : self.rank_bound])
        ]

    def headline(self) -> dict[str, float]:
        return {f"relative_distance.{r.law}": r.overall()[1] for r in self.laws} | {
            f"share_top{self.components}.{r.law}": r.overall()[2][-1] for r in self.laws
        }


def _row(name: str, law: str, distance: float, mean_square: float, relative: float, shares: list[float]) -> dict:
    return {
        "class": name,
        "law": law,
        "distance": distance,
        "rms_difference": distance**0.5,
        "mean_part": mean_square / distance if distance else float("nan"),
        "relative_distance": relative,
    } | {f"share_k{k}": s for k, s in enumerate(shares, start=1)}


def model_diff(
    model_a: torch.nn.Module,
    model_b: torch.nn.Module,
    laws: Sequence[InputLaw],
    classes: Sequence[str],
    components: int,
    sign_images: torch.Tensor | None = None,
) -> ModelDiff:
    """A - B for two ungated bilinear MLPs reading the same inputs (any hidden sizes, biases or not).
    laws: input laws of x (InputLaw.standard, InputLaw.of_data); sign_images: (classes, inputs), each
    class's mean image, to sign the directions (SIGN_RULE)."""
    inputs = len(laws[0].mean)
    pair = FormPair.of(model_a, model_b, inputs)
    spectrum = Spectrum.of(pair.a - pair.b)
    if sign_images is not None:
        references = sign_images.double()
        if pair.constant:
            references = torch.cat([references, references.new_zeros(len(references), 1)], dim=1)
        spectrum = spectrum.signed(references)
    results = [law_distance(pair, spectrum, law, components) for law in laws]
    return ModelDiff(classes, spectrum, components, pair.constant, pair.rank_bound, results)
