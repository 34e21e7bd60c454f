"""What trackers are given: a model's numbers and recipe as its folder holds them, a config as dotted keys."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bilin.running.folder import csv_number, read_json

STEP = "epoch"  # the step column of metrics.csv
METRICS = "metrics.csv"  # a model's per-epoch numbers: a train run's and every cache entry's
RECIPE = "recipe.json"  # a cache entry's recipe (bilin.cache.entries.RECIPE)


@dataclass(frozen=True)
class Model:
    """A model of a grid as its cache entry holds it: one tracker run (an MLflow child run)."""

    name: str  # the entry's folder name
    params: dict[str, Any]  # its recipe.json, flattened
    rows: list[dict[str, float]]  # its metrics.csv
    tags: dict[str, str]  # where it is and where it came from
    files: list[tuple[Path, str]]  # (file, artifact folder)

    @classmethod
    def of(cls, folder: Path, source: str) -> Model:
        """`source`: trained (by this command or its jobs), reused or waited_for (bilin.cache.store.record_supply)."""
        rows = read_rows(folder / METRICS) if (folder / METRICS).is_file() else []  # an entry of an older bilin
        tags = {"bilin.cache_entry": str(folder.absolute()), "bilin.model_source": source}
        files = [(folder / name, "") for name in (METRICS, RECIPE) if (folder / name).is_file()]
        return cls(folder.name, flat(read_json(folder / RECIPE)), rows, tags, files)

    def final(self) -> dict[str, float]:
        """Its last epoch's numbers, as final/<name>."""
        return final(self.rows)

    @property
    def last_step(self) -> int:
        return int(self.rows[-1][STEP]) if self.rows else 0


def final(rows: list[dict[str, float]]) -> dict[str, float]:
    """The last row's numbers (the step aside) as final/<name>; none for no rows."""
    return {f"final/{k}": v for k, v in (rows[-1] if rows else {}).items() if k != STEP}


def read_rows(path: Path) -> list[dict[str, float]]:
    """A CSV of numbers (metrics.csv), each cell as the float it reads as."""
    with path.open(newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def cell(value: Any) -> float:
    """A number as a run's CSV writes it (float32 values without their float32 noise)."""
    return float(csv_number(float(value)))


def flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys (model.name, data.root), as they are given on the command line."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            out |= flat(value, f"{prefix}{name}.")
        else:
            out[f"{prefix}{name}"] = value
    return out
