"""What spatial frequencies one grey bilinear MLP uses, measured three ways on the same model:

- weights: the closed-form CSF (csf.weights), its peak and half-maximum bandwidth;
- behaviour: `probe-csf`'s linear probe on a named layer, the same gratings, its peak and bandwidth
  from the fitted thresholds (95% bootstrap interval of the peak);
- features: the spectral centroid of the top eigenvectors (analysis.feature_spectra) and of
  feature visualisations of every class (featvis.bench's methods).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from bilin.analysis.decompose import eigendecompose
from bilin.analysis.feature_spectra import feature_spectra
from bilin.analysis.frequency import band_pass_note, radial_spectrum
from bilin.csf.measure import LayerCSF, StaircaseSettings, measure_layer
from bilin.csf.probe import FeatureExtractor, ProbeSettings
from bilin.csf.stimuli import Stimuli
from bilin.csf.weights import WeightCSF, weight_csf
from bilin.featvis.bench import run_method

SIDE = 28  # bilin's grey MLPs take 28 x 28 images


@dataclass(frozen=True)
class StudySettings:
    sfs: list[float]
    protocol: str
    criterion: float  # nats, the weight CSF's threshold criterion
    layer: str  # the layer the probe reads
    probe: ProbeSettings
    staircase: StaircaseSettings
    featvis_method: str
    featvis_steps: int


@dataclass
class ModelFrequencies:
    weights: WeightCSF
    probe: LayerCSF
    eigen_centroid: float  # mean over classes of the top eigenvectors' centroids, cycles/image
    featvis_centroid: float  # mean over classes of the feature visualisations' centroids
    featvis_images: torch.Tensor  # (classes, 1, 28, 28)

    def row(self) -> dict:
        w, p = self.weights.shape, self.probe
        return {
            "weights_peak": float(w.peak),
            "weights_octaves": float(w.octaves),
            "weights_low": float(w.low),
            "weights_high": float(w.high),
            "probe_peak": p.peak,
            "probe_peak_ci_low": p.peak_ci[0],
            "probe_peak_ci_high": p.peak_ci[1],
            "probe_octaves": float(p.shape.octaves),
            "probe_low": float(p.shape.low),
            "probe_high": float(p.shape.high),
            "probe_accuracy": p.history.accuracy[-1],
            "probe_step_like": int(p.fit.step_like.sum()),  # frequencies only bracketed (probe_thresholds.csv)
            "probe_unreached": int(p.fit.unreached.sum()),
            "eigen_centroid": self.eigen_centroid,
            "featvis_centroid": self.featvis_centroid,
            "band_note": band_pass_note(self.weights.sfs),  # why peaks and bandwidths are NaN, if they are
        }


def measure_model(
    model: torch.nn.Module,
    settings: StudySettings,
    device: torch.device,
    on_batch: Callable[[], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ModelFrequencies:
    """The three views of one ungated bilinear MLP (its weights on the CPU in float64); `on_stage`
    is told what each stage is about to do, `on_batch` is called after each probe training batch."""
    stage = on_stage or (lambda _: None)
    stimuli = Stimuli(SIDE, channels=1, protocol=settings.protocol)
    n_sfs = len(settings.sfs)
    stage(f"weight CSF ({n_sfs} frequencies, closed form)")
    weights = weight_csf(model.cpu(), settings.sfs, stimuli, settings.criterion)
    stage("eigenvector spectra")
    eigen_centroid = float(feature_spectra(eigendecompose(model.cpu()), SIDE).top_centroid().mean())
    model = model.to(device)
    extractor = FeatureExtractor(model, settings.layer)
    probe = settings.probe
    stage(
        f"probe CSF (layer {settings.layer}: {probe.pairs_per_epoch} pairs x {probe.epochs} epochs, "
        f"then a staircase at each of {n_sfs} frequencies)"
    )
    (probe,) = measure_layer(extractor, settings.sfs, stimuli, probe, settings.staircase, device, on_batch)
    classes = model.head.weight.shape[0]
    stage(f"featvis ({settings.featvis_method}, {settings.featvis_steps} steps, {classes} classes)")
    images = run_method(
        model, (1, SIDE, SIDE), classes, settings.featvis_method, settings.featvis_steps, settings.probe.seed, device
    ).images.cpu()
    featvis_centroid = float(radial_spectrum(images[:, 0]).centroid().mean())
    return ModelFrequencies(weights, probe, eigen_centroid, featvis_centroid, images)
