"""The CSFs of a probe-csf run, every probed (layer, colour), with the human reference of each colour
beside them: the curves its figure draws and the tables written with it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bilin.csf.human import HUMAN_CSFS, human_curve, human_span
from bilin.csf.measure import LayerCSF


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
        each = self.results
        per_layer = [r for r in each if r.colour == self.colours[0]]  # one probe per layer, whatever the colour
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
