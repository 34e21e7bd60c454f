"""The engine of `bilin frequency`: what spatial frequencies a grey bilinear MLP uses, measured three
ways on the same model, and the study over datasets, training noises and seeds:

- weights: the closed-form CSF (csf.weight_csf), its peak and half-maximum bandwidth;
- behaviour: `probe-csf`'s linear probe on a named layer, the same gratings, its peak and bandwidth
  from the fitted thresholds (95% bootstrap interval of the peak);
- features: the spectral centroid of the top eigenvectors (analysis.feature_spectra) and of
  feature visualisations of every class (featvis.bench's methods).

A study's measures are banded over seeds (mean and 90% Student-t interval) along the noise levels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import torch

from bilin.analysis.decompose import eigendecompose
from bilin.analysis.feature_spectra import feature_spectra
from bilin.analysis.frequency import band_pass_note, radial_spectrum
from bilin.analysis.stats import SweepBands, sweep_bands
from bilin.csf.measure import LayerCSF, measure_layer
from bilin.csf.probe import FeatureExtractor
from bilin.csf.settings import GREY_SIDE, FrequencyStudySettings
from bilin.csf.stimuli import Stimuli
from bilin.csf.weight_csf import WeightCSF, weight_csf
from bilin.data import DATASETS
from bilin.featvis.bench import run_method
from bilin.running.command import TensorFile

# (column of frequency.csv, its source: the figure's legend, the figure's row, the table's header)
MEASURES = (
    ("weights_peak", "weights", "CSF peak (cycles/image)", "weights: CSF peak"),
    ("probe_peak", "probe", "CSF peak (cycles/image)", "probe: CSF peak"),
    ("weights_octaves", "weights", "CSF bandwidth (octaves)", "weights: bandwidth"),
    ("probe_octaves", "probe", "CSF bandwidth (octaves)", "probe: bandwidth"),
    ("eigen_centroid", "eigenvectors", "spectral centroid (cycles/image)", "eigenvectors: centroid"),
    ("featvis_centroid", "featvis", "spectral centroid (cycles/image)", "featvis: centroid"),
)
CENTROIDS = ("eigen_centroid", "featvis_centroid")  # need no band-pass shape: any frequencies will do


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
    settings: FrequencyStudySettings,
    device: torch.device,
    on_batch: Callable[[], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ModelFrequencies:
    """The three views of one ungated bilinear MLP (its weights on the CPU in float64); `on_stage`
    is told what each stage is about to do, `on_batch` is called after each probe training batch."""
    stage = on_stage or (lambda _: None)
    stimuli = Stimuli(GREY_SIDE, channels=1, protocol=settings.protocol)
    sfs, probe = settings.frequencies, settings.probe
    stage(f"weight CSF ({len(sfs)} frequencies, closed form)")
    weights = weight_csf(model.cpu(), sfs, stimuli, settings.criterion)
    stage("eigenvector spectra")
    eigen_centroid = float(feature_spectra(eigendecompose(model.cpu()), GREY_SIDE).top_centroid().mean())
    model = model.to(device)
    extractor = FeatureExtractor(model, settings.layer)
    stage(
        f"probe CSF (layer {settings.layer}: {probe.pairs} pairs x {probe.epochs} epochs, "
        f"then a staircase at each of {len(sfs)} frequencies)"
    )
    (measured,) = measure_layer(extractor, sfs, stimuli, probe, settings.staircase, device, on_batch)
    classes = model.head.weight.shape[0]
    stage(f"featvis ({settings.featvis_method}, {settings.featvis_steps} steps, {classes} classes)")
    side = (1, GREY_SIDE, GREY_SIDE)
    method, steps = settings.featvis_method, settings.featvis_steps
    images = run_method(model, side, classes, method, steps, probe.seed, device).images.cpu()
    featvis_centroid = float(radial_spectrum(images[:, 0]).centroid().mean())
    return ModelFrequencies(weights, measured, eigen_centroid, featvis_centroid, images)


@dataclass
class FrequencyStudy:
    """Every model's measures, by (dataset, noise, seed), and their bands over seeds along the noise
    levels (read once every model is added); d_hidden and epochs describe the models in the notes."""

    settings: FrequencyStudySettings
    datasets: list[str]
    noises: list[float]
    seeds: list[int]
    d_hidden: int
    epochs: int
    rows: list[dict] = field(default_factory=list)  # frequency.csv: one per model
    weight_rows: list[dict] = field(default_factory=list)
    probe_rows: list[dict] = field(default_factory=list)
    images: dict[str, torch.Tensor] = field(default_factory=dict)

    def add(self, dataset: str, noise: float, seed: int, val_acc: float, measured: ModelFrequencies) -> dict:
        """One model's measures (in the study's order: datasets, noises, seeds); its frequency.csv row."""
        base = {"dataset": dataset, "noise": noise, "seed": seed}
        self.rows.append({**base, "val_acc": val_acc, **measured.row()})
        self.weight_rows += [{**base, **r} for r in measured.weights.rows()]
        self.probe_rows += [{**base, **r} for r in measured.probe.threshold_rows()]
        self.images[f"{dataset}/noise{noise:g}/seed{seed}"] = measured.featvis_images
        return self.rows[-1]

    @property
    def band_note(self) -> str:
        return band_pass_note(self.settings.frequencies)

    @property
    def seeds_note(self) -> str:
        seeds = len(self.seeds)
        return f"{seeds} seed{'s' if seeds > 1 else ''}; bilinear d={self.d_hidden}, {self.epochs} epochs"

    @cached_property
    def bands(self) -> SweepBands:
        """Each measure's band over seeds; peaks cut to the tested frequencies, the rest to >= 0 (a t
        band over few seeds can leave the range)."""
        sfs = self.settings.frequencies
        columns = [column for column, *_ in MEASURES]
        clips = {c: (min(sfs), max(sfs)) if c.endswith("_peak") else (0.0, math.inf) for c in columns}
        return sweep_bands(self.rows, self.datasets, columns, "noise", self.noises, clips)

    def summary(self) -> list[dict]:
        note = self.band_note
        return self.bands.rows(notes={c: note for c, *_ in MEASURES if c not in CENTROIDS})

    def tables(self) -> dict[str, list[dict]]:
        return {
            "frequency.csv": self.rows,
            "frequency_summary.csv": self.summary(),
            "weight_csf.csv": self.weight_rows,
            "probe_thresholds.csv": self.probe_rows,
        }

    def tensors(self) -> dict[str, TensorFile]:
        layout = "<dataset>/noise<std>/seed<seed>: classes x 1 x 28 x 28, image c for class c"
        images = {k: v.contiguous() for k, v in self.images.items()}
        return {"featvis_images.safetensors": TensorFile(images, {"layout": layout})}

    def markdown(self) -> str:
        """The study's table: one row per dataset and noise, mean [90% interval] of every measure."""
        cell = {(r["dataset"], r["noise"], r["measure"]): r for r in self.summary()}
        head = "| dataset | noise σ | " + " | ".join(header for *_, header in MEASURES) + " |"
        lines = [head, "|" + "---|" * (len(MEASURES) + 2)]
        for dataset in self.datasets:
            for noise in self.noises:
                values = [cell[(dataset, noise, m)] for m, *_ in MEASURES]
                text = [
                    f"{v['mean']:.2f} [{v['low']:.2f}, {v['high']:.2f}]" if math.isfinite(v["mean"]) else "n/a"
                    for v in values
                ]
                lines.append(f"| {DATASETS[dataset].title} | {noise:g} | " + " | ".join(text) + " |")
        lines.append("")
        lines.append(
            f"Mean [90% Student-t interval] over {self.seeds_note}; peaks in cycles/image, bandwidths in octaves "
            "at half maximum."
        )
        if self.band_note:
            lines.append(f"Peaks and bandwidths (n/a): {self.band_note}.")
        return "\n".join(lines) + "\n"

    def headline(self) -> dict[str, float]:
        """Peaks and centroids at the lowest and highest noise, per dataset (the report's table)."""
        ends = (self.noises[0], self.noises[-1])
        return {
            f"{r['measure']}.{r['dataset']}.noise{r['noise']:g}": r["mean"]
            for r in self.summary()
            if r["noise"] in ends and not r["measure"].endswith("_octaves") and math.isfinite(r["mean"])
        }
