"""What one `bilin featvis` run found: its renders (the run's own and each ladder step's), as tables,
tensors and run-record fields; and, for an ungated bilinear MLP on grey images, the top eigenvectors of
each class target beside its featvis image. Pure: tensors in, records out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bilin.featvis.ladder import LADDER
from bilin.featvis.measures import top_eigenvalues
from bilin.featvis.spectrum import seen_image_measures
from bilin.featvis.tables import activation_rows, curve_rows, ladder_rows
from bilin.running.command import TensorFile

if TYPE_CHECKING:
    from bilin.featvis.colour import ColourBasis
    from bilin.featvis.objectives import Target
    from bilin.featvis.render import RenderResult
    from bilin.featvis.settings import Settings, Tricks
    from bilin.featvis.sources import Subject

MAIN = "result"  # the render of the run's own settings; the ladder's steps go by their names


@dataclass
class FeatvisOutcome:
    renders: dict[str, RenderResult]  # MAIN first, then the ladder's steps
    labels: list[str]
    top_eigenvalues: torch.Tensor | None  # (targets,) lambda_max of M_c, NaN where not a bilinear class
    seen: dict[str, dict[str, torch.Tensor]]  # per MACO render: its seen-image measures (targets, images)

    @property
    def main(self) -> RenderResult:
        return self.renders[MAIN]

    @property
    def has_ladder(self) -> bool:
        return len(self.renders) > 1

    def tables(self) -> dict[str, list[dict]]:
        main = self.main
        tables = {
            "curve.csv": curve_rows(main.curve, self.labels),
            "activations.csv": activation_rows(
                main.images, main.activations, self.labels, self.top_eigenvalues, self.seen.get(MAIN)
            ),
        }
        if self.has_ladder:
            steps = {name: self.renders[name] for name in LADDER}
            tables["ladder.csv"] = ladder_rows(steps, self.labels, self.top_eigenvalues, self.seen)
        return tables

    def inputs(self) -> TensorFile:
        """inputs.safetensors: the images, their final activations and every ladder step's images."""
        tensors = {"images": self.main.images.contiguous(), "activations": self.main.activations.contiguous()}
        tensors |= {f"ladder/{name}": r.images.contiguous() for name, r in self.renders.items() if name != MAIN}
        return TensorFile(tensors, {"targets": "|".join(self.labels)})

    def record(self) -> dict:
        return {
            "diversity_layer": self.main.diversity_layer,
            "maco_seen": {name: {k: float(v.mean()) for k, v in m.items()} for name, m in self.seen.items()},
            "render_seconds": {name: round(r.seconds, 3) for name, r in self.renders.items()},
            "final_activation_mean": float(self.main.activations.mean()),
        }


def featvis_outcome(
    plan: Sequence[tuple[str, Settings, Tricks]],
    renders: dict[str, RenderResult],
    subject: Subject,
    targets: list[Target],
    labels: list[str],
    spectrum: torch.Tensor | None,
    colour: ColourBasis | None,
) -> FeatvisOutcome:
    # MACO's magnitude holds for its hidden image; what the model sees is squashed into the range
    seen = {
        name: seen_image_measures(renders[name].images, spectrum, colour, subject.value_range)
        for name, _, tricks in plan
        if tricks.param == "maco"
    }
    return FeatvisOutcome(renders, labels, top_eigenvalues(subject.model, targets), seen)


@dataclass
class EigenComparison:
    """Per class target: its featvis image (flattened), the top eigenvector u = E^T v and that of M_c."""

    classes: list[int]
    names: list[str]
    shape: tuple[int, int]  # (height, width)
    images: torch.Tensor
    hidden_top: torch.Tensor
    input_top: torch.Tensor
    signed: bool  # whether orient_to_class signed them (the test set was found)
    constant: bool = False  # a model with biases: the vectors live in [x; 1] and these are their image parts

    def tensor_file(self) -> TensorFile:
        """eigenvectors.safetensors."""
        sign = "mean u . x > 0 over the class's test images" if self.signed else "arbitrary (test set not found)"
        return TensorFile(
            {"hidden_top": self.hidden_top, "input_space_top": self.input_top},
            {
                "classes": ",".join(map(str, self.classes)),
                "layout": "per class target: the top eigenvector u = E^T v, and that of M_c",
                "sign": sign,
            },
        )


def eigen_comparison(
    subject: Subject, main: RenderResult, targets: list[Target], data_root: str | None
) -> EigenComparison | None:
    """For an ungated bilinear MLP on grey images with class targets; None otherwise."""
    from bilin.featvis.sources import top_eigenvectors
    from bilin.models.networks import BilinearMLP

    model = subject.model
    classes = [t.index for t in targets if t.kind == "class"]
    if not isinstance(model, BilinearMLP) or model.gate is not None or not classes or subject.input_shape[0] != 1:
        return None
    hidden, pixel, signed = top_eigenvectors(subject, classes, data_root)
    images = main.images[[i for i, t in enumerate(targets) if t.kind == "class"], 0].flatten(1)
    names = [subject.classes[c] for c in classes]
    shape, constant = tuple(subject.input_shape[1:]), model.bilinear.bias is not None
    return EigenComparison(classes, names, shape, images, hidden, pixel, signed, constant)
