"""`featvis-bench`'s work on its models: every method run on one model after another, each image scored
(bilinear MLPs against the exact sphere optimum and the box optimum; every model by the proxy), collected
as per-image rows, the images and the example images a figure shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from bilin.featvis.bench import METHODS, REFERENCE, MethodRun, proxy_confidence, run_method
from bilin.featvis.spectrum import seen_image_measures

SCORES = (
    "cos",
    "fraction",
    "top5_energy",
    "steps_to_95",
    "box_share",
    "proxy_confidence",
    "at_bounds",
    "spectral_error",
)  # the rows' scores the summaries average
TestSet = Callable[[], tuple[torch.Tensor, torch.Tensor]]  # the model's test set (images, labels), read when scored


def method_runs(models: int, relu: bool) -> int:
    """Method runs of a bench of `models` bilinear models (and as many relu MLPs, which skip the sphere)."""
    return models * (len(METHODS) + (len(METHODS) - 1 if relu else 0))


@dataclass
class BenchModels:
    """Rows (one per model, method and class), images by "<kind>/<dataset>/d<size>/seed<seed>/<method>" (and
    "box/..." for the box optimum), and per dataset the example model's images by method."""

    steps: int
    transforms: int
    device: torch.device
    stage: Callable[[str], None]  # one line on what is being done
    total: int  # method runs over every model, for the stage lines
    rows: list[dict] = field(default_factory=list)
    images: dict[str, torch.Tensor] = field(default_factory=dict)
    examples: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    done: int = 0

    def model(
        self,
        model: torch.nn.Module,
        kind: str,
        data: str,
        d: int,
        seed: int,
        spectrum,
        test_set: TestSet,
        example: bool,
    ) -> None:
        """Every method on one model (the sphere reference only on bilinear ones); example: keep its images
        for the figure. spectrum: MACO's fixed magnitude from the dataset's training images."""
        classes = model.head.weight.shape[0]
        methods = [m for m in METHODS if not (kind == "relu" and m == REFERENCE)]
        name, runs, proxies = f"{kind} {data} d={d} seed={seed}", {}, {}
        for method in methods:
            runs[method] = run_method(model, (1, 28, 28), classes, method, self.steps, seed, self.device, spectrum)
            self.done += 1
            self.stage(f"{self.done}/{self.total} {name} {method}: {runs[method].seconds:.1f} s")
            proxies[method] = proxy_confidence(model, runs[method].images.to(self.device), self.transforms, seed).cpu()
            self.images[f"{kind}/{data}/d{d}/seed{seed}/{method}"] = runs[method].images
        scores: dict[str, dict[str, torch.Tensor]] = {m: {} for m in methods}
        if kind == "bilinear":
            scores = self._ground_truth(model, data, d, seed, runs, test_set, example)
        for method in methods:
            images = runs[method].images
            # the image as the model sees it: how much of it sits at the range's ends, how far its spectrum is
            # from the data's (MACO's is the data's before the clip); the sphere's images are not in the range
            seen = seen_image_measures(images, spectrum)
            if method == REFERENCE:
                seen = {s: None for s in seen}
            for c in range(classes):
                row = {"model": kind, "dataset": data, "d_hidden": d, "seed": seed, "method": method, "class": c}
                row |= {"norm": float(images[c].norm()), "proxy_confidence": float(proxies[method][c])}
                row |= {s: _cell(scores[method].get(s), c) for s in ("cos", "fraction", "top5_energy", "box_share")}
                row |= {"steps_to_95": _cell(scores[method].get("steps_to_95"), c, int)}
                row |= {s: _cell(v, c) for s, v in seen.items()}
                self.rows.append({**row, "seconds": runs[method].seconds})

    def _ground_truth(
        self, model, data: str, d: int, seed: int, runs: dict[str, MethodRun], test_set: TestSet, example: bool
    ) -> dict[str, dict[str, torch.Tensor]]:
        """A bilinear model's direction scores against M_c's eigenvectors and each in-box method's share of
        the best logit found in the box."""
        from bilin.analysis.box_optimum import RESTARTS, STEPS, box_optimum, box_share
        from bilin.analysis.decompose import input_space_eigendecompose, orient_to_class
        from bilin.analysis.featvis_scores import Optimum, score_images, steps_to_reach

        name, classes = f"bilinear {data} d={d} seed={seed}", model.head.weight.shape[0]
        self.stage(f"scoring {name}: eigendecomposition of M_c, direction scores along every path")
        x, y = test_set()
        optimum = Optimum.from_eigen(orient_to_class(input_space_eigendecompose(model.cpu()), x, y))
        matrices = optimum.matrices()
        in_box = [m for m in runs if m != REFERENCE]
        self.stage(
            f"box optimum for {data} d={d} seed={seed}: {RESTARTS} random restarts + {len(in_box)} method "
            f"images, {STEPS} projected-gradient steps"
        )
        starts = torch.stack([runs[m].images.flatten(1) for m in in_box], 1)
        box = box_optimum(matrices.to(self.device), starts.to(self.device), seed=seed)
        self.images[f"box/{data}/d{d}/seed{seed}"] = box.images.float().view(classes, 1, 28, 28)
        scores = {}
        for method, result in runs.items():
            final = score_images(optimum, result.images)
            path = score_images(optimum, result.path.transpose(0, 1)).fraction.T  # (steps, classes)
            scores[method] = {"cos": final.cos, "fraction": final.fraction, "top5_energy": final.top5}
            scores[method]["steps_to_95"] = steps_to_reach(path)
            if method != REFERENCE:  # the sphere's images are outside the box: no box share
                scores[method]["box_share"] = box_share(box, matrices, result.images.flatten(1))
            if example:
                self.examples.setdefault(data, {})[method] = result.images[:, 0]
        if example:
            self.examples[data]["box optimum"] = box.images.float().view(classes, 28, 28)
            self.examples[data]["optimum"] = optimum.vectors[:, 0].view(classes, 28, 28)
        return scores


def _cell(values, c: int, kind=float):
    """One class's score, or "" where it does not apply (relu models; the sphere's box share)."""
    return "" if values is None else kind(values[c])
