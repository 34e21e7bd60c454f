"""`bilin noise-sweep` (figure 4) and `bilin accuracy` (the model comparison table)."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from bilin.analysis.decompose import eigendecompose
from bilin.cache import cached_accuracy, recipe_from_config
from bilin.checkpoint import load_model
from bilin.config import check_recipe_config
from bilin.data import DATASETS
from bilin.errors import UserError
from bilin.figures.eigen import image_grid
from bilin.figures.grid import accuracy_bars
from bilin.hydra_app import CONFIG_DIR, config_choices
from bilin.tasks.common import analysis_run, require_bilinear, clean_test_set
from bilin.train.loop import per_class_accuracy

TITLES = {"mnist": "MNIST", "fmnist": "Fashion-MNIST"}


def _check_datasets(names) -> None:
    unknown = [d for d in names if d not in DATASETS]
    if unknown or not names:
        raise UserError(f"datasets={list(names)}: choose from {', '.join(DATASETS)}")


def run_noise_sweep(cfg, out_dir: Path) -> dict:
    check_recipe_config(cfg)
    _check_datasets(cfg.datasets)
    require_bilinear(cfg)
    with analysis_run(cfg, out_dir, "noise-sweep") as job:
        recipes = {(d, n): recipe_from_config(cfg, data=d, noise=float(n)) for d in cfg.datasets for n in cfg.noises}
        folders = job.models(list(recipes.values()))
        images, titles, labels, rows = [], [], [], []
        for dataset in cfg.datasets:
            classes = DATASETS[dataset].classes
            if not 0 <= cfg.target_class < len(classes):
                raise UserError(f"target_class={cfg.target_class} is outside 0..{len(classes) - 1}")
            labels.append(f"{TITLES[dataset]}: {classes[cfg.target_class]}")
            for noise in cfg.noises:
                folder = folders[recipes[(dataset, noise)]]
                eigen = eigendecompose(load_model(folder))
                top = eigen.values[cfg.target_class].argmax()
                images.append(eigen.vectors[cfg.target_class, top].view(28, 28))
                accuracy = cached_accuracy(folder)
                titles.append(f"σ={noise:g}: {accuracy * 100:.1f}%")
                rows.append({"dataset": dataset, "noise": noise, "val_acc": accuracy,
                             "top_eigenvalue": float(eigen.values[cfg.target_class, top])})
        job.run.write_csv("noise_sweep.csv", rows)
        figure = image_grid(images, titles, cols=len(cfg.noises), row_labels=labels, cell=130,
                            title=f"Top eigenvector vs input noise std (d={cfg.d_hidden}, {cfg.epochs} epochs; "
                                  "title: noise and val accuracy)")
        return job.finish({"fig4_noise_sweep": figure})


def _model_config(name: str) -> tuple[str, str | None]:
    if name not in config_choices("model"):
        raise UserError(f"models: unknown model {name!r}; available: {', '.join(config_choices('model'))}")
    node = OmegaConf.load(CONFIG_DIR / "model" / f"{name}.yaml")
    return node.name, node.gate


def run_accuracy(cfg, out_dir: Path) -> dict:
    check_recipe_config(cfg)
    _check_datasets(cfg.datasets)
    kinds = {name: _model_config(name) for name in cfg.models}
    with analysis_run(cfg, out_dir, "accuracy") as job:
        recipes = {(m, d): recipe_from_config(cfg, model=kinds[m][0], gate=kinds[m][1], data=d)
                   for m in cfg.models for d in cfg.datasets}
        folders = job.models(list(recipes.values()))
        table, per_class_rows, figures = [], [], {}
        for dataset in cfg.datasets:
            classes = DATASETS[dataset].classes
            x, y = clean_test_set(job.cache, recipes[(cfg.models[0], dataset)])
            per_model = {}
            for name in cfg.models:
                model = load_model(folders[recipes[(name, dataset)]])
                with torch.no_grad():
                    predicted = model(x).argmax(-1)
                per_model[name] = per_class_accuracy(predicted, y, len(classes)).tolist()
                table.append({"model": name, "dataset": dataset, "val_acc": (predicted == y).float().mean().item()})
                per_class_rows += [{"model": name, "dataset": dataset, "class": c, "val_acc": a}
                                   for c, a in zip(classes, per_model[name])]
            figures[f"accuracy_{dataset}"] = accuracy_bars(
                classes, per_model, f"{TITLES[dataset]}: per-class validation accuracy (d={cfg.d_hidden}, "
                                    f"noise {cfg.noise:g}, {cfg.epochs} epochs)")
        job.run.write_csv("accuracy.csv", table)
        job.run.write_csv("per_class.csv", per_class_rows)
        print("model".ljust(16) + "".join(TITLES[d].rjust(15) for d in cfg.datasets))
        for name in cfg.models:
            accs = {r["dataset"]: r["val_acc"] for r in table if r["model"] == name}
            print(name.ljust(16) + "".join(f"{accs[d] * 100:14.2f}%" for d in cfg.datasets))
        return job.finish(figures)
