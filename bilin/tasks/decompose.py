"""`bilin decompose`: eigenvectors per class, figures 2 and 3, single-input explanations."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from bilin.analysis.decompose import Eigen, contributions, eigendecompose, input_space_eigendecompose
from bilin.cache import recipe_from_config
from bilin.checkpoint import load_model
from bilin.config import check_recipe_config
from bilin.data import DATASETS, load_dataset
from bilin.errors import UserError
from bilin.figures.eigen import explanation_figure, panel_figure, spectrum_figure, top_eigenvector_figure
from bilin.rundir import RunDir
from bilin.tasks.common import analysis_run, require_bilinear
from bilin.train.task import run_dataset

DATASET_TITLES = {"mnist": "MNIST", "fmnist": "Fashion-MNIST"}


def _model_source(cfg, job) -> tuple[torch.nn.Module, str, str]:
    """(model, dataset name, where it came from): a train run folder, or the cache."""
    if cfg.run is not None:
        run_dir = Path(cfg.run)
        if not run_dir.is_dir():
            raise UserError(f"run directory {run_dir} does not exist")
        model = load_model(run_dir)
        dataset = json.loads((run_dir / "model.json").read_text()).get("dataset") or run_dataset(RunDir(run_dir))
        if dataset not in DATASETS:
            raise UserError(f"{run_dir}/model.json does not say which dataset the model was trained on")
        return model, dataset, str(run_dir)
    require_bilinear(cfg)
    recipe = recipe_from_config(cfg)
    folder = job.models([recipe])[recipe]
    return load_model(folder), recipe.data, str(folder)


def run_decompose(cfg, out_dir: Path) -> dict:
    check_recipe_config(cfg)
    with analysis_run(cfg, out_dir, "decompose") as job:
        model, dataset, source = _model_source(cfg, job)
        classes = DATASETS[dataset].classes
        started = time.perf_counter()
        eigen = eigendecompose(model)
        seconds = time.perf_counter() - started
        side = int(round(model.embed.weight.shape[1] ** 0.5))
        shape = (side, side)
        job.run.save_tensors("eigen.safetensors", {"eigenvalues": eigen.values, "eigenvectors": eigen.vectors},
                             metadata={"source": source, "dataset": dataset,
                                       "layout": "eigenvalues: classes x d ascending; eigenvectors: classes x d x "
                                                 "inputs, row k = E^T v_k (input space)"})
        job.run.write_csv("spectrum.csv", [{"class": classes[c], "index": k, "eigenvalue": float(v)}
                                           for c in range(len(classes)) for k, v in enumerate(eigen.values[c])])
        title = DATASET_TITLES[dataset]
        figures = {"fig2_top_eigenvectors": top_eigenvector_figure(
            eigen.vectors, eigen.values, classes, shape, f"{title}: top positive eigenvector per class")}
        for c, name in enumerate(classes):
            figures[f"fig3_spectrum_class{c}"] = spectrum_figure(eigen.vectors, eigen.values, c, name, shape)
        if cfg.input_space:
            figures.update(_input_space(job, model, classes, shape, title))
        if cfg.panel:
            figures["fig2_panel"] = _panel(cfg, job, dataset, eigen, shape)
        if cfg.explain is not None:
            figures["explain"] = _explain(cfg, model, eigen, dataset, classes, shape)
        return job.finish(figures, source=source, dataset=dataset, decompose_seconds=seconds)


def _input_space(job, model, classes, shape, title) -> dict:
    eigen = input_space_eigendecompose(model)
    job.run.save_tensors("eigen_input_space.safetensors", {"eigenvalues": eigen.values,
                                                           "eigenvectors": eigen.vectors})
    return {"fig2_top_eigenvectors_input_space": top_eigenvector_figure(
        eigen.vectors, eigen.values, classes, shape, f"{title}: top eigenvector of M_c = E^T Q_c E per class")}


def _panel(cfg, job, dataset: str, eigen: Eigen, shape) -> object:
    """Figure 2 for MNIST and Fashion-MNIST side by side; the other dataset's model from the cache."""
    require_bilinear(cfg)
    panels = {dataset: eigen}
    for other in ("mnist", "fmnist"):
        if other not in panels:
            recipe = replace(recipe_from_config(cfg), data=other)
            panels[other] = eigendecompose(load_model(job.models([recipe])[recipe]))
    rows = [(DATASET_TITLES[d], panels[d].vectors, panels[d].values, DATASETS[d].classes) for d in ("mnist", "fmnist")]
    return panel_figure(rows, shape, "Top positive eigenvector per class (red positive, blue negative)")


def _explain(cfg, model, eigen: Eigen, dataset: str, classes, shape) -> object:
    ds = load_dataset(dataset, cfg.data.root, cfg.data.download)
    index = cfg.explain
    if not 0 <= index < len(ds.test_x):
        raise UserError(f"explain={index} is outside the test set (0..{len(ds.test_x) - 1})")
    x = ds.test_x[index].flatten().float() / 255
    with torch.no_grad():
        logits = model(x[None])[0]
    top = logits.argsort(descending=True)[:3].tolist()
    parts = [contributions(eigen, x, c) for c in top]
    return explanation_figure(x, classes[ds.test_y[index]], logits, classes, top, parts, eigen.vectors,
                              eigen.values, shape)
