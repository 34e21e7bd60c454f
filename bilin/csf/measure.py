"""A layer's contrast sensitivity: train the probe, run the staircases, fit them, find the peak;
and the sweep over layers as the tables its figures are drawn from."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from bilin.csf.human import PEAK_CPD, human_curve
from bilin.csf.probe import FeatureExtractor, ProbeHistory, ProbeSettings, grating_observer, train_probe
from bilin.csf.psychophysics import Fit, Staircase, bisection, csf_peak, fit_psychometric, weibull

CURVE_CONTRASTS = torch.logspace(-3, 0, 200, dtype=torch.float64)  # where the fitted Weibulls are drawn


def image_degrees(size: int) -> float:
    """Visual angle of the image, as DeepCSF converts: 224 px = 2 degrees."""
    return size / 112


@dataclass
class LayerCSF:
    layer: str
    sfs: list[float]
    degrees: float
    probe: nn.Linear
    history: ProbeHistory
    stair: Staircase
    fit: Fit
    peak: float  # cycles/image, from a log-parabola fitted to the CSF
    peak_ci: list[float]  # 95% over the bootstrap replicates

    @property
    def sensitivity(self) -> torch.Tensor:
        return 1 / self.fit.threshold

    def training_rows(self) -> list[dict]:
        h = self.history
        return [
            {"layer": self.layer, "epoch": e + 1, "accuracy": a, "loss": loss, "normalised_loss": nl}
            for e, (a, loss, nl) in enumerate(zip(h.accuracy, h.loss, h.normalised_loss, strict=True))
        ]

    def threshold_rows(self) -> list[dict]:
        stair, fit = self.stair, self.fit
        return [
            {
                "layer": self.layer,
                "sf_cycles_per_image": sf,
                "sf_cycles_per_degree": sf / self.degrees,
                "bisection_threshold": float(stair.threshold[i]),
                "bisection_steps": int(stair.steps[i]),
                "fitted_threshold": float(fit.threshold[i]),
                "ci_low": float(fit.ci_low[i]),
                "ci_high": float(fit.ci_high[i]),
                "sensitivity": 1 / float(fit.threshold[i]),
                "trials": int(stair.trials[i].sum()),
            }
            for i, sf in enumerate(self.sfs)
        ]

    def trial_rows(self) -> list[dict]:
        s = self.stair
        return [
            {"layer": self.layer, "sf": sf, "contrast": float(c), "trials": int(n), "correct": int(k)}
            for i, sf in enumerate(self.sfs)
            for c, n, k in zip(s.contrast[i], s.trials[i], s.correct[i], strict=True)
            if n > 0
        ]

    def psychometric_curves(self) -> torch.Tensor:
        """(sfs, contrasts) the fitted Weibull's proportion correct at CURVE_CONTRASTS."""
        f = self.fit
        return weibull(CURVE_CONTRASTS, f.alpha[:, None], f.beta[:, None], f.lapse[:, None])

    def curve_rows(self) -> list[dict]:
        curves, f = self.psychometric_curves(), self.fit
        return [
            {
                "layer": self.layer,
                "sf": sf,
                "alpha": float(f.alpha[i]),
                "beta": float(f.beta[i]),
                "lapse": float(f.lapse[i]),
                "contrast": float(c),
                "p_correct": float(p),
            }
            for i, sf in enumerate(self.sfs)
            for c, p in zip(CURVE_CONTRASTS, curves[i], strict=True)
        ]


def measure_layer(
    extractor: FeatureExtractor,
    sfs: list[float],
    size: int,
    settings: ProbeSettings,
    trials: int,
    max_steps: int,
    bootstrap: int,
    eval_batch: int,
    device: torch.device,
    on_batch: Callable[[], None] | None = None,
) -> LayerCSF:
    probe, history = train_probe(extractor, size, settings, device, on_batch)
    observer = grating_observer(extractor, probe, sfs, size, trials, settings.seed, device, eval_batch)
    stair = bisection(observer, len(sfs), trials, max_steps=max_steps)
    fit = fit_psychometric(stair, boot=bootstrap, seed=settings.seed)
    peak = csf_peak(torch.tensor(sfs), 1 / fit.threshold[None])[0].item()
    boot_peaks = csf_peak(torch.tensor(sfs), 1 / fit.boot_thresholds)
    finite = boot_peaks[boot_peaks.isfinite()]
    peak_ci = (
        torch.quantile(finite, torch.tensor([0.025, 0.975], dtype=finite.dtype)).tolist()
        if len(finite) > 10
        else [math.nan, math.nan]
    )
    return LayerCSF(extractor.layer, list(sfs), image_degrees(size), probe, history, stair, fit, peak, peak_ci)


@dataclass
class CsfSweep:
    """The CSF of every probed layer, and (with `with_human`) the human reference beside them,
    each curve max-normalised so their shapes compare."""

    layers: dict[str, LayerCSF]
    with_human: bool

    @property
    def sfs(self) -> list[float]:
        return next(iter(self.layers.values())).sfs

    @property
    def degrees(self) -> float:
        return next(iter(self.layers.values())).degrees

    def curves(self) -> dict[str, dict[str, torch.Tensor]]:
        """Per curve: x (cycles/image), y, low, high as drawn (scaled by 1 / max when with_human)."""
        curves = {}
        for name, layer in self.layers.items():
            scale = float(layer.sensitivity.max()) if self.with_human else 1.0
            curves[name] = {
                "x": torch.tensor(layer.sfs, dtype=torch.float64),
                "y": layer.sensitivity / scale,
                "low": 1 / layer.fit.ci_high / scale,
                "high": 1 / layer.fit.ci_low / scale,
            }
        if self.with_human:
            x, y = human_curve(self.sfs, self.degrees)
            curves[f"human (schematic, peak {PEAK_CPD:g} cpd)"] = {"x": x.double(), "y": y.double()}
        return curves

    def tables(self) -> dict[str, list[dict]]:
        csf = [
            {
                "curve": name,
                "sf_cycles_per_image": float(x),
                "sf_cycles_per_degree": float(x) / self.degrees,
                "plotted_sensitivity": float(curve["y"][i]),
                "plotted_low": float(curve["low"][i]) if "low" in curve else "",
                "plotted_high": float(curve["high"][i]) if "high" in curve else "",
            }
            for name, curve in self.curves().items()
            for i, x in enumerate(curve["x"])
        ]
        each = list(self.layers.values())
        return {
            "thresholds.csv": [r for layer in each for r in layer.threshold_rows()],
            "training.csv": [r for layer in each for r in layer.training_rows()],
            "trials.csv": [r for layer in each for r in layer.trial_rows()],
            "psychometric_curves.csv": [r for layer in each for r in layer.curve_rows()],
            "csf.csv": csf,
        }
