"""The spatial frequencies of a bilinear model's features: every eigenvector's ring spectrum, each
class's quadratic form M_c as a whole, and their summaries per class and rank (analysis.frequency)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bilin.analysis.decompose import Eigen
from bilin.analysis.frequency import RadialSpectrum, quadratic_form_spectrum, radial_spectrum

TOP_FEATURES = 5  # "the top eigenvectors" of a class: its 5 largest positive eigenvalues
SPECTRUM_RANKS = 20  # components per class whose whole spectra go into a CSV (ranked by |eigenvalue|)


@dataclass
class FeatureSpectra:
    """values: (classes, d) ascending as Eigen's; components: (classes, d, rings) each eigenvector's
    spectrum; whole: (classes, rings) M_c's."""

    values: torch.Tensor
    components: RadialSpectrum
    whole: RadialSpectrum

    @property
    def by_magnitude(self) -> torch.Tensor:
        """(classes, d) component indices, largest |eigenvalue| first (rank 0)."""
        return self.values.abs().argsort(dim=1, descending=True)

    def top_centroid(self, k: int = TOP_FEATURES) -> torch.Tensor:
        """(classes,) mean spectral centroid of the k eigenvectors with the largest eigenvalues."""
        top = self.values.argsort(dim=1, descending=True)[:, :k]
        return self.components.centroid().gather(1, top).mean(1)

    def summary_rows(self, classes: Sequence[str]) -> list[dict]:
        """Per class: M_c as a whole (rank "M_c") then every component by rank of |eigenvalue|."""
        centroid, half = self.components.centroid(), self.components.half_energy_frequency()
        whole_centroid, whole_half = self.whole.centroid(), self.whole.half_energy_frequency()
        rows = []
        for c, name in enumerate(classes):
            rows.append(
                {
                    "class": name,
                    "rank": "M_c",
                    "eigenvalue": "",
                    "centroid": float(whole_centroid[c]),
                    "half_energy_frequency": float(whole_half[c]),
                }
            )
            for rank, k in enumerate(self.by_magnitude[c].tolist()):
                rows.append(
                    {
                        "class": name,
                        "rank": rank,
                        "eigenvalue": float(self.values[c, k]),
                        "centroid": float(centroid[c, k]),
                        "half_energy_frequency": float(half[c, k]),
                    }
                )
        return rows

    def spectrum_rows(self, classes: Sequence[str], ranks: int = SPECTRUM_RANKS) -> list[dict]:
        """Energy fraction and mean power per ring: M_c's and the top `ranks` components' (by |eigenvalue|)."""
        fractions, whole = self.components.fractions(), self.whole.fractions()
        rows = []
        for c, name in enumerate(classes):
            curves = [("M_c", "", whole[c], self.whole.mean_power[c])]
            for rank, k in enumerate(self.by_magnitude[c, :ranks].tolist()):
                curves.append((rank, float(self.values[c, k]), fractions[c, k], self.components.mean_power[c, k]))
            for rank, value, fraction, power in curves:
                for f, e, p in zip(self.whole.frequencies.tolist(), fraction.tolist(), power.tolist(), strict=True):
                    rows.append(
                        {
                            "class": name,
                            "rank": rank,
                            "eigenvalue": value,
                            "cycles_per_image": f,
                            "energy_fraction": e,
                            "mean_power": p,
                        }
                    )
        return rows


def feature_spectra(eigen: Eigen, side: int) -> FeatureSpectra:
    """Eigen (vectors: classes x d x side*side, u = E^T v) -> the spectra of its features (with biases,
    of their image part: the constant coordinate is no pixel)."""
    components = radial_spectrum(eigen.images.reshape(*eigen.vectors.shape[:2], side, side))
    return FeatureSpectra(eigen.values, components, quadratic_form_spectrum(eigen.values, components))
