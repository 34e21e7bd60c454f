"""`bilin train`: config -> data -> model -> training loop -> figures -> run folder.

`resume=<run dir>` finishes an interrupted run in place from its last checkpoint (bit-identical
on CPU to a run that was never stopped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bilin.command import Command
from bilin.config import RecipeOptions, d_hidden_key, model_seed_key
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    from bilin.lifecycle import RunContext
    from bilin.models import ModelSpec
    from bilin.train.loop import Trainer

CHECKPOINT = "checkpoint.pt"
log = logging.getLogger("bilin.train")


@dataclass
class TrainConfig(RecipeOptions):
    d_hidden: int = d_hidden_key()
    seed: int = model_seed_key()
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"] = key("none", "a torch.compile mode")
    cuda_graph: bool = key(True, "on CUDA with compile=none: replay each training step as one CUDA graph")
    checkpoint_every: int = key(10, "also write a resumable checkpoint every N epochs (0: only at the end)", ge=0)
    resume: str | None = key(None, "finish an interrupted run in place (only device= and quiet= may be given with it)")

    def check(self) -> None:
        super().check()
        if self.model.decorrelate and (self.model.name != "cnn" or self.data.name != "cifar10"):
            raise UserError(
                "model.decorrelate=true whitens colours: it needs model=cnn and colour images (data=cifar10)"
            )

    def check_continued(self, folder: Path) -> None:
        """resume=: the run's checkpoint must hold the model this (saved) config describes. Checked
        before the run is touched: a checkpoint.pt copied from another run, or a config edited since,
        is refused and the run stays as it was."""
        check_checkpoint(self, folder)


def check_checkpoint(cfg: TrainConfig, folder: Path) -> None:
    import math

    import torch

    from bilin.data import DATASETS
    from bilin.models import ModelSpec, build_model
    from bilin.rundir import RunDir

    run = RunDir(folder)
    path = run.file(CHECKPOINT)
    if not path.is_file():
        raise UserError(f"{folder} has no {CHECKPOINT} to resume from")
    gate = f"-{cfg.model.gate}" if cfg.model.gate else ""
    described = f"the run's config ({cfg.model.name}{gate} d_hidden={cfg.d_hidden} on {cfg.data.name})"
    if run.file("model.json").is_file():  # written with every checkpoint: what it was a checkpoint of
        saved = run.read_json("model.json")
        wanted = {"kind": cfg.model.name, "gate": cfg.model.gate, "d_hidden": cfg.d_hidden, "dataset": cfg.data.name}
        wrong = next((k for k, v in wanted.items() if k in saved and saved[k] != v), None)
        if wrong is not None:
            raise UserError(
                f"{folder}'s model.json says {wrong}={saved[wrong]!r}, but {described} says {wanted[wrong]!r}: "
                "the checkpoint is of another model; it cannot be resumed (start a new run)"
            )
    state = run.load_torch(CHECKPOINT)
    weights = state.get("model") if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise UserError(f"{path} is not a bilin train checkpoint: it holds no model state")
    info = DATASETS[cfg.data.name]
    spec = ModelSpec(
        cfg.model.name,
        math.prod(info.image_shape),
        cfg.d_hidden,
        len(info.classes),
        cfg.model.gate,
        info.image_shape,
        info.classes,
        cfg.model.decorrelate,
    )
    with torch.device("meta"):  # shapes only, no memory
        expected = {k: tuple(v.shape) for k, v in build_model(spec).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if found != expected:
        name = next(k for k in sorted(found.keys() | expected.keys()) if found.get(k) != expected.get(k))
        have = "absent" if name not in found else "x".join(map(str, found[name]))
        want = "absent" if name not in expected else "x".join(map(str, expected[name]))
        raise UserError(
            f"{path} holds another model than {described}: {name} is {have} in the checkpoint, {want} in the "
            "config; it cannot be resumed (start a new run)"
        )


def run(cfg: TrainConfig, ctx: RunContext) -> None:
    # heavy imports here, not at the top: listing commands, --help and option checks stay torch-free

    from dataclasses import asdict

    from bilin.data import load_dataset
    from bilin.device import apply_precision
    from bilin.errors import Interrupted
    from bilin.figures.training import per_class_bars, training_curves
    from bilin.train.budget import check_training_fits
    from bilin.train.buffers import DeviceData
    from bilin.train.cost import StepTimer, epoch_seconds, measured_basis, measured_seconds, plan_line
    from bilin.train.loop import Trainer, per_class_accuracy
    from bilin.train.progress import epoch_progress
    from bilin.train.recipe import recipe_from_config

    apply_precision(cfg.precision, ctx.device)
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.train_limit, cfg.data.test_limit)
    ctx.record["data"] = {cfg.data.name: data.provenance()}  # the folder read and the content's SHA-256
    if len(data.train_x) < cfg.batch_size:
        raise UserError(f"batch_size={cfg.batch_size} is larger than the {len(data.train_x)} training images")
    recipe = recipe_from_config(cfg)  # the model spec, optimiser settings, seed and noise derive from it
    ctx.record["recipe"] = asdict(recipe)  # bilin cache add checks its config against it
    spec = recipe.spec(data)
    check_training_fits(spec, 1, cfg.batch_size, len(data.train_x), ctx.device)
    model = recipe.initial_model(data)  # data order and noise: the trainer's own generators
    hp = recipe.hparams(compile=cfg.compile, cuda_graph=cfg.cuda_graph)
    label = f"{cfg.model.name}{'-' + cfg.model.gate if cfg.model.gate else ''} {cfg.data.name} d={cfg.d_hidden}"

    def say(line: str) -> None:
        log.info(line)
        ctx.console.print(line, highlight=False, soft_wrap=True)

    def measured(step_seconds: float, steps: int) -> None:  # the first steps timed: the estimate again
        left = cfg.epochs - len(trainer.metrics)
        seconds = measured_seconds(step_seconds, len(data.train_x), len(data.test_x), cfg.batch_size, left)
        say(f"{label}: " + plan_line(1, left, seconds, ctx.device, measured_basis(steps)))

    trainer = Trainer(
        model.to(ctx.device),
        DeviceData.from_uint8(data.train_x, data.train_y, data.test_x, data.test_y, ctx.device),
        hp,
        ctx.device,
        step_timer=StepTimer.on(ctx.device, measured),
    )
    if ctx.continuing:
        if not ctx.run.file(CHECKPOINT).is_file():
            raise UserError(f"{ctx.run.path} has no {CHECKPOINT} to resume from")
        try:
            trainer.load_state(ctx.run.load_torch(CHECKPOINT))
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:  # optimiser or generator state of another run
            raise UserError(
                f"{ctx.run.file(CHECKPOINT)} cannot be resumed: {' '.join(str(exc).split())[:200]}"
            ) from exc

    def on_epoch(metric, trainer: Trainer) -> None:
        ctx.run.write_csv("metrics.csv", [asdict(m) for m in trainer.metrics])  # a running job can be followed
        report(metric)
        if cfg.checkpoint_every and metric.epoch % cfg.checkpoint_every == 0 and metric.epoch < cfg.epochs:
            save_state(ctx, trainer.state(), trainer, spec, cfg.data.name)

    left = cfg.epochs - len(trainer.metrics)
    seconds = epoch_seconds(spec, len(data.train_x), len(data.test_x), ctx.device, cfg.precision)
    say(f"{label}: " + plan_line(1, left, seconds * left if seconds is not None else None, ctx.device))
    with ctx.polling() as stop, epoch_progress(label, cfg.epochs, len(trainer.metrics), cfg.quiet) as report:
        result = trainer.fit(stop, on_epoch)

    save_state(ctx, result.checkpoint, trainer, spec, cfg.data.name)
    metrics = result.checkpoint["metrics"]
    ctx.record.update(epochs_completed=len(metrics), train_seconds=sum(m["seconds"] for m in metrics))
    if metrics:
        ctx.record["final"] = {k: metrics[-1][k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")}
        ctx.headline(val_acc=metrics[-1]["val_acc"], val_loss=metrics[-1]["val_loss"])
    ctx.add_figures(
        {
            "training_curves": training_curves(
                metrics, f"{spec.kind} {cfg.data.name}, d={cfg.d_hidden}, noise={cfg.noise}, seed={cfg.seed}"
            )
        }
    )
    if result.status == "interrupted":
        ctx.record["resume"] = f"bilin train resume={ctx.run.path}"
        raise Interrupted(
            f"{result.message}; saved to {ctx.run.path}; finish it with: bilin train resume={ctx.run.path}",
            result.stop_reason or "SIGINT",
        )
    if result.status != "complete":
        raise UserError(result.message)
    _, _, predicted = trainer.evaluate()
    accuracy = per_class_accuracy(predicted, trainer.data.test_y, len(data.classes)).tolist()
    ctx.run.write_csv(
        "per_class.csv", [{"class": c, "val_acc": a} for c, a in zip(data.classes, accuracy, strict=True)]
    )
    ctx.add_figures({"per_class_accuracy": per_class_bars(data.classes, accuracy, "Validation accuracy per class")})
    final = f"val acc {metrics[-1]['val_acc'] * 100:.2f}%"
    ctx.summary = (
        f"resumed run complete: {ctx.run.path} ({final})"
        if ctx.continuing
        else f"run complete: {ctx.run.path} | {final} | {ctx.record['train_seconds']:.1f} s training"
    )


def save_state(ctx: RunContext, state: dict, trainer: Trainer, spec: ModelSpec, dataset: str) -> None:
    """Weights and everything a resume needs, as of the epoch in `state`."""
    from bilin.checkpoint import save_model

    ctx.run.save_torch(CHECKPOINT, state)
    trainer.model.load_state_dict(state["model"])
    save_model(ctx.run, trainer.model, spec, {"epoch": state["epoch"], "dataset": dataset})
    ctx.run.write_csv("metrics.csv", state["metrics"])


COMMAND = Command(
    name="train",
    summary="Train a model into outputs/train/DATE/TIME (Hydra overrides, multirun, launchers).",
    schema=TrainConfig,
    run=run,
    panel="Train",
    examples=(
        "bilin train model=bilinear data=fmnist",
        "bilin train -m seed=0,1,2 d_hidden=30,512            (multirun: outputs/multirun/train/...)",
        "bilin train -m hydra/launcher=submitit_local seed=0,1 (or submitit_slurm on a cluster)",
        "bilin train experiment=smoke                          (seconds, on a data subset)",
        "bilin train --cfg job                                 (print the composed config)",
        "bilin train resume=outputs/train/DATE/TIME            (finish an interrupted run in place)",
    ),
    continues_run="resume",
    continue_keys=("device", "quiet"),
)
