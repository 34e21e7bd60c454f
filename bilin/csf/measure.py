"""A layer's contrast sensitivity: train the probe, run the staircases (one set per colour
condition), fit them, find the peak (bilin.csf.sweep gathers the layers and colours)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from bilin.analysis.frequency import BandPass, band_pass
from bilin.csf.compare import Comparison, compare_procedures
from bilin.csf.probe import FeatureExtractor, ProbeHistory, grating_observer, train_probe
from bilin.csf.psychophysics import Fit, Staircase, bisection, fit_psychometric, weibull
from bilin.csf.quest import quest_staircase
from bilin.csf.settings import ProbeSettings, StaircaseSettings
from bilin.csf.stimuli import Stimuli

CURVE_CONTRASTS = torch.logspace(-3, 0, 200, dtype=torch.float64)  # where the fitted Weibulls are drawn


def image_degrees(size: int) -> float:
    """Visual angle of an image `size` px wide by DeepCSF's convention, 224 px = 2 degrees (probe-csf's
    degrees=null)."""
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
    shape: BandPass  # of the fitted CSF: peak (log-parabola through the top 3 points), half-max band
    peak_ci: list[float]  # 95% over the bootstrap replicates, cycles/image
    octaves_ci: list[float]  # the bandwidth's, octaves
    colour: str = "lum"  # the gratings' colour direction; the probe is the layer's, whatever the colour
    comparison: Comparison | None = None  # procedure=both: the bisection against QUEST+
    size: int | None = None  # px: the image that spans `degrees`

    @property
    def name(self) -> str:
        """The curve's name: the layer, with the colour condition when it is not luminance."""
        return self.layer if self.colour == "lum" else f"{self.layer}.{self.colour}"

    @property
    def sensitivity(self) -> torch.Tensor:
        """1 / threshold; where step-like, 1 / the bracket's centre or finite end (Fit.estimate)."""
        return 1 / self.fit.estimate

    @property
    def peak(self) -> float:
        """cycles/image"""
        return float(self.shape.peak)

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
                "colour": self.colour,
                "sf_cycles_per_image": sf,
                "sf_cycles_per_degree": sf / self.degrees,
                "bisection_threshold": float(stair.threshold[i]),
                "bisection_steps": int(stair.steps[i]),
                "fitted_threshold": float(fit.threshold[i]),  # NaN where step-like
                "ci_low": float(fit.ci_low[i]),
                "ci_high": float(fit.ci_high[i]),
                "step_like": bool(fit.step_like[i]),
                "unreached": bool(fit.unreached[i]),  # 75% beyond every tested contrast
                "bracket_low": float(fit.bracket_low[i]),  # step-like: last contrast at chance; unreached: highest
                "bracket_high": float(fit.bracket_high[i]),  # step-like: first contrast above it; unreached: inf
                "sensitivity": float(self.sensitivity[i]),
                "trials": int(stair.trials[i].sum()),
            }
            for i, sf in enumerate(self.sfs)
        ]

    def trial_rows(self) -> list[dict]:
        s = self.stair
        return [
            {
                "layer": self.layer,
                "colour": self.colour,
                "sf": sf,
                "contrast": float(c),
                "trials": int(n),
                "correct": int(k),
            }
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
                "colour": self.colour,
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
    stimuli: Stimuli,
    settings: ProbeSettings,
    staircase: StaircaseSettings,
    device: torch.device,
    on_batch: Callable[[], None] | None = None,
    colours: tuple[str, ...] = ("lum",),
    degrees: float | None = None,
) -> list[LayerCSF]:
    """One probe for the layer (trained on the shape pairs), then one CSF per colour condition:
    DeepCSF likewise trains its read-out once and tests it with lum, rg and yb gratings. `degrees`:
    the image's field of view (cycles/degree = cycles/image / degrees); None: image_degrees."""
    degrees = image_degrees(stimuli.size) if degrees is None else degrees
    probe, history = train_probe(extractor, stimuli, settings, device, on_batch)
    results = []
    for colour in colours:

        def observer(colour: str = colour):
            return grating_observer(
                extractor, probe, sfs, stimuli, staircase.trials, settings.seed, device, staircase.eval_batch, colour
            )

        comparison, n, trials = None, len(sfs), staircase.trials
        if staircase.procedure == "both":
            comparison = compare_procedures(
                observer, n, trials, staircase.max_steps, staircase.bootstrap, settings.seed, staircase.quest_max_steps
            )
            stair, fit = comparison.stair, comparison.fit
        else:
            if staircase.procedure == "quest":
                stair = quest_staircase(
                    observer(), n, trials, staircase.quest_ci_width, staircase.quest_max_steps
                ).stair
            else:
                stair = bisection(observer(), n, trials, max_steps=staircase.max_steps)
            fit = fit_psychometric(stair, boot=staircase.bootstrap, seed=settings.seed)
        shape, peak_ci, octaves_ci = _shape(sfs, fit)
        results.append(
            LayerCSF(
                extractor.layer,
                list(sfs),
                degrees,
                probe,
                history,
                stair,
                fit,
                shape,
                peak_ci,
                octaves_ci,
                colour,
                comparison,
                stimuli.size,
            )
        )
    return results


def _shape(sfs: list[float], fit: Fit) -> tuple[BandPass, list[float], list[float]]:
    """The fitted CSF's band-pass shape and the 95% bootstrap intervals of its peak and bandwidth,
    over the replicates whose every threshold is finite (a fit can run off the tested range)."""
    x = torch.tensor(sfs, dtype=torch.float64)

    def usable(t: torch.Tensor) -> torch.Tensor:
        return t.isfinite().all(-1) & (t > 0).all(-1)

    shape = band_pass(x, 1 / fit.estimate) if usable(fit.estimate) else _no_shape()
    boot = fit.boot_thresholds[usable(fit.boot_thresholds)]
    if len(boot) <= 10:
        return shape, [math.nan, math.nan], [math.nan, math.nan]
    replicates = band_pass(x, 1 / boot)
    q = torch.tensor([0.025, 0.975], dtype=torch.float64)
    return shape, torch.quantile(replicates.peak, q).tolist(), torch.quantile(replicates.octaves, q).tolist()


def _no_shape() -> BandPass:
    nan = torch.tensor(math.nan, dtype=torch.float64)
    return BandPass(nan, nan, nan, torch.tensor(False), torch.tensor(False))
