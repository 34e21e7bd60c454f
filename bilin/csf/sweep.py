"""The CSFs of a probe-csf run, every probed (layer, colour), with the human reference of each colour
beside them: the curves its figure draws and the tables written with it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bilin.analysis.frequency import band_pass_note
from bilin.csf.human import HUMAN_CSFS, human_curve, human_span
from bilin.csf.measure import LayerCSF
from bilin.csf.settings import StaircaseSettings
from bilin.running.command import TensorFile


@dataclass
class CsfSweep:
    """The CSF of every probed (layer, colour), and (with `with_human`) the human reference for each
    colour condition beside them, each curve max-normalised so their shapes compare. A human curve is
    drawn only where its source describes the frequencies (bilin.csf.human); a colour whose source
    range misses the measured one is left out (human_left_out)."""

    results: list[LayerCSF]
    with_human: bool

    @property
    def sfs(self) -> list[float]:
        return self.results[0].sfs

    @property
    def degrees(self) -> float:
        return self.results[0].degrees

    @property
    def size(self) -> int | None:
        return self.results[0].size

    @property
    def colours(self) -> list[str]:
        return list(dict.fromkeys(r.colour for r in self.results))

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(r.layer for r in self.results))

    @property
    def per_layer(self) -> list[LayerCSF]:
        """One result per layer (the first colour's): the probe is the layer's, whatever the colour."""
        return [r for r in self.results if r.colour == self.colours[0]]

    @property
    def human_left_out(self) -> list[str]:
        """with_human: the colours whose human curve has no frequency in common with the measured ones."""
        if not self.with_human:
            return []
        return [c for c in self.colours if human_span(self.sfs, self.degrees, c) is None]

    def curves(self) -> dict[str, dict]:
        """Per curve: x (cycles/image), y, low, high as drawn (scaled by 1 / max when with_human),
        its colour condition, whether it is a human reference (then its source), and (network curves)
        which points are only bracketed (step-like or unreached): y from the bracket's centre, low and
        high from its ends (0 or inf where the bracket is open)."""
        curves = {}
        for result in self.results:
            scale = float(result.sensitivity.nan_to_num(0.0).max()) if self.with_human else 1.0
            low, high = result.fit.interval
            curves[result.name] = {
                "x": torch.tensor(result.sfs, dtype=torch.float64),
                "y": result.sensitivity / scale,
                "low": 1 / high / scale,
                "high": 1 / low / scale,
                "colour": result.colour,
                "human": False,
                "bracketed": result.fit.bracketed,
            }
        if self.with_human:
            for colour in self.colours:
                drawn = human_curve(self.sfs, self.degrees, colour)
                if drawn is not None:
                    x, y = drawn
                    source = HUMAN_CSFS[colour].source
                    curves[f"human {colour}"] = {"x": x, "y": y, "colour": colour, "human": True, "source": source}
        return curves

    def human_reference(self) -> dict[str, dict]:
        """For run.json (with_human): per colour, the source, the cycles/degree it describes and the
        cycles/image drawn here (None: left out, no overlap with the measured frequencies)."""
        return {
            colour: {
                "source": HUMAN_CSFS[colour].source,
                "cycles_per_degree": list(HUMAN_CSFS[colour].cpd_range),
                "drawn_cycles_per_image": human_span(self.sfs, self.degrees, colour),
            }
            for colour in (self.colours if self.with_human else [])
        }

    def tables(self) -> dict[str, list[dict]]:
        csf = [
            {
                "curve": name,
                "colour": curve["colour"],
                "sf_cycles_per_image": float(x),
                "sf_cycles_per_degree": float(x) / self.degrees,
                "plotted_sensitivity": float(curve["y"][i]),
                "plotted_low": float(curve["low"][i]) if "low" in curve else "",
                "plotted_high": float(curve["high"][i]) if "high" in curve else "",
                "bracketed": bool(curve["bracketed"][i]) if "bracketed" in curve else "",
                "source": curve.get("source", ""),
            }
            for name, curve in self.curves().items()
            for i, x in enumerate(curve["x"])
        ]
        each, per_layer = self.results, self.per_layer
        compared = [r for r in each if r.comparison is not None]
        procedures = [
            {"layer": r.layer, "colour": r.colour, **row} for r in compared for row in r.comparison.rows(r.sfs)
        ]
        return {
            **({"procedures.csv": procedures} if compared else {}),
            "thresholds.csv": [r for result in each for r in result.threshold_rows()],
            "training.csv": [r for result in per_layer for r in result.training_rows()],
            "trials.csv": [r for result in each for r in result.trial_rows()],
            "psychometric_curves.csv": [r for result in each for r in result.curve_rows()],
            "csf.csv": csf,
        }

    def probes(self, extractor: str) -> TensorFile:
        """Every layer's trained probe (probes.safetensors), named <layer>.weight and <layer>.bias."""
        tensors = {
            f"{r.layer}.{k}": v.detach().cpu().contiguous()
            for r in self.per_layer
            for k, v in r.probe.state_dict().items()
        }
        return TensorFile(tensors, {"layers": ",".join(self.layers), "extractor": extractor})

    def curve_record(self) -> dict:
        """For run.json: each curve's peak and bandwidth with their CIs, each probe's final accuracy and
        the frequencies only bracketed (step-like or unreached: thresholds.csv)."""
        shape_note = band_pass_note(self.sfs)  # why peaks and bandwidths are NaN, if they are
        return {
            "peaks": {
                r.name: {
                    "cycles_per_image": r.peak,
                    "ci": r.peak_ci,
                    "cycles_per_degree": r.peak / r.degrees,
                    "bandwidth_octaves": float(r.shape.octaves),
                    "bandwidth_ci": r.octaves_ci,
                    **({"note": shape_note} if shape_note else {}),
                }
                for r in self.results
            },
            "final_probe_accuracy": {r.layer: r.history.accuracy[-1] for r in self.results},
            **{why: {r.name: _bracketed(r, why) for r in self.results} for why in ("step_like", "unreached")},
        }

    def procedure_record(self, staircase: StaircaseSettings) -> dict:
        """For run.json: how many bisections ran all their steps and (procedure=both) the comparison of
        the procedures."""
        record = {}
        if staircase.procedure != "quest":
            ran_all = sum(int((r.stair.steps == staircase.max_steps).sum()) for r in self.results)
            record["bisections_that_ran_all_steps"] = ran_all
        if staircase.procedure == "both":  # medians over frequencies: trials each needed for the bisection's precision
            record["procedures"] = {r.name: r.comparison.summary() for r in self.results}
        return record

    def headline(self) -> dict[str, float]:
        return {f"peak_cycles_per_image.{r.name}": r.peak for r in self.results if math.isfinite(r.peak)}


def _bracketed(result: LayerCSF, why: str) -> list[dict]:
    """The frequencies whose threshold is only bracketed for reason `why` (a Fit flag), with the bracket."""
    fit = result.fit
    return [
        {"sf_cycles_per_image": sf, "bracket": [float(fit.bracket_low[i]), float(fit.bracket_high[i])]}
        for i, sf in enumerate(result.sfs)
        if getattr(fit, why)[i]
    ]
