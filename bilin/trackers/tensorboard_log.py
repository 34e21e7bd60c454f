"""TensorBoard: event files in the run folder's tensorboard/, a folder per model of a grid under it.

Through torch.utils.tensorboard's SummaryWriter (it needs the tensorboard package): scalars per step,
the config as hparams (with the final numbers as their metrics) and as text, PNG figures as images.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bilin.settings.schema import format_value
from bilin.trackers.records import STEP, Model
from bilin.trackers.settings import TENSORBOARD


class TensorBoardLog:
    name = "tensorboard"

    def __init__(self, run_folder: Path):
        self.root = run_folder / TENSORBOARD
        self._writer: Any = None

    def start(self, params: Mapping[str, Any], continuing: bool) -> dict[str, Any]:
        self._writer = _writer(self.root)
        if not continuing:
            self._writer.add_text("config", _code(params))
        return {"logdir": str(self.root)}

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, step)
        self._writer.flush()  # a running job can be followed

    def log_model(self, model: Model) -> None:
        writer = _writer(self.root / model.name)
        try:
            for row in model.rows:
                for name, value in row.items():
                    if name != STEP:
                        writer.add_scalar(name, value, int(row[STEP]))
            _summary(writer, model.params, model.final(), model.last_step)
            writer.add_text("source", _code(model.tags))
        finally:
            writer.close()

    def finish(
        self,
        status: str,
        params: Mapping[str, Any],
        summary: Mapping[str, float],
        step: int,
        files: list[tuple[Path, str]],
    ) -> None:
        _summary(self._writer, params, summary, step)
        for path, _ in files:
            if path.suffix == ".png":
                self._writer.file_writer.add_summary(_image(path.stem, path.read_bytes()), step)
        self._writer.add_text("status", status)
        self._writer.close()


def _writer(folder: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder))


def _summary(writer: Any, params: Mapping[str, Any], metrics: Mapping[str, float], step: int) -> None:
    """The final numbers as scalars, and the hparams plugin's record of this run's settings and them."""
    from torch.utils.tensorboard.summary import hparams

    for name, value in metrics.items():
        writer.add_scalar(name, value, step)
    values = {k: v if isinstance(v, (int, float, str, bool)) else format_value(v) for k, v in params.items()}
    for summary in hparams(values, dict(metrics)):
        writer.file_writer.add_summary(summary)


def _image(tag: str, png: bytes) -> Any:
    """An image summary of a PNG file as it is (its size read from the PNG header; nothing decoded)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    width, height = struct.unpack(">II", png[16:24])
    image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
    return Summary(value=[Summary.Value(tag=f"figures/{tag}", image=image)])


def _code(values: Mapping[str, Any]) -> str:
    """A mapping as an indented JSON block in TensorBoard's markdown text."""
    return "\n".join("    " + line for line in json.dumps(dict(values), indent=2, default=str).splitlines())
