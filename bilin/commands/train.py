"""`bilin train`: config -> data -> model -> training loop -> figures -> run folder.

`resume=<run dir>` finishes an interrupted run in place from its last checkpoint (bit-identical
on CPU to a run that was never stopped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult
from bilin.settings.options import RecipeOptions, d_hidden_key
from bilin.settings.schema import key
from bilin.train.records import HParams

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class TrainConfig(RecipeOptions, HParams):
    """The recipe's keys and the Trainer's (seed, compile, cuda_graph), both the training library's, and these."""

    d_hidden: int = d_hidden_key()
    checkpoint_every: int = key(10, "also write a resumable checkpoint every N epochs (0: only at the end)", ge=0)
    resume: str | None = key(None, "finish an interrupted run in place (only device= and quiet= may be given with it)")

    def check(self) -> None:
        super().check()
        if self.model.decorrelate and (self.model.name != "cnn" or self.data.name != "cifar10"):
            raise UserError(
                "model.decorrelate=true whitens colours: it needs model=cnn and colour images (data=cifar10)"
            )

    def check_continued(self, folder: Path) -> None:
        """resume=: the run's checkpoint must hold the model this (saved) config describes, checked
        before the run is touched."""
        from bilin.models.checkpoint import check_checkpoint
        from bilin.train.recipe import recipe_from_config

        check_checkpoint(folder, recipe_from_config(self).spec(), self.data.name)


def main(cfg: TrainConfig, ctx: RunContext) -> CommandResult:
    # heavy imports here, not at the top: listing commands, --help and option checks stay torch-free
    from bilin.data import load_dataset
    from bilin.device import apply_precision
    from bilin.errors import Interrupted
    from bilin.figures.training import per_class_bars, training_curves
    from bilin.models.checkpoint import CHECKPOINT, Checkpoint, load_checkpoint
    from bilin.train.budget import check_training_fits
    from bilin.train.buffers import DeviceData
    from bilin.train.cost import StepTimer, epoch_seconds, measured_basis, measured_seconds, plan_line
    from bilin.train.loop import Trainer, per_class_accuracy
    from bilin.train.progress import epoch_progress
    from bilin.train.recipe import recipe_from_config
    from bilin.train.records import History

    apply_precision(cfg.precision, ctx.device)
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.train_limit, cfg.data.test_limit)
    ctx.note(data={cfg.data.name: data.provenance()})  # the folder read and its content's SHA-256
    if len(data.train_x) < cfg.batch_size:
        raise UserError(f"batch_size={cfg.batch_size} is larger than the {len(data.train_x)} training images")
    recipe = recipe_from_config(cfg)  # the model spec, its init and the cache key derive from it
    ctx.note(recipe=recipe.record())  # bilin cache add checks a run's config against it
    spec = recipe.spec(data)
    check_training_fits(spec, 1, cfg.batch_size, len(data.train_x), ctx.device)
    label = f"{cfg.model.name}{'-' + cfg.model.gate if cfg.model.gate else ''} {cfg.data.name} d={cfg.d_hidden}"

    def measured(step_seconds: float, steps: int) -> None:  # the first steps timed: the estimate again
        left = cfg.epochs - len(trainer.metrics)
        seconds = measured_seconds(step_seconds, len(data.train_x), len(data.test_x), cfg.batch_size, left)
        ctx.stage(f"{label}: " + plan_line(1, left, seconds, ctx.device, measured_basis(steps)))

    device_data = DeviceData.from_uint8(data.train_x, data.train_y, data.test_x, data.test_y, ctx.device)
    model = recipe.initial_model(data).to(ctx.device)  # data order and noise: the trainer's own generators
    trainer = Trainer(model, device_data, cfg, ctx.device, step_timer=StepTimer.on(ctx.device, measured))
    if ctx.continuing:
        state = load_checkpoint(ctx.folder)
        try:
            trainer.load_state(state)
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:  # optimiser or generator state of another run
            reason = " ".join(str(exc).split())[:200]
            raise UserError(f"{ctx.folder.file(CHECKPOINT)} cannot be resumed: {reason}") from exc

    def save(state: dict) -> None:  # weights and everything a resume needs, as of the state's epoch
        ctx.save_checkpoint(Checkpoint(state, trainer.model, spec, {"dataset": cfg.data.name}))

    def on_epoch(metric, trainer: Trainer) -> None:
        ctx.write(History(trainer.metrics))  # a running job can be followed
        report(metric)
        if cfg.checkpoint_every and metric.epoch % cfg.checkpoint_every == 0 and metric.epoch < cfg.epochs:
            save(trainer.state())

    left = cfg.epochs - len(trainer.metrics)
    seconds = epoch_seconds(spec, len(data.train_x), len(data.test_x), ctx.device, cfg.precision)
    ctx.stage(f"{label}: " + plan_line(1, left, seconds * left if seconds is not None else None, ctx.device))
    with ctx.polling() as stop, epoch_progress(label, cfg.epochs, len(trainer.metrics), cfg.quiet) as report:
        result = trainer.fit(stop, on_epoch)
    save(result.checkpoint)
    history = History(result.metrics)  # the checkpoint's: up to the last good epoch
    ctx.write(history)

    title = f"{spec.kind} {cfg.data.name}, d={cfg.d_hidden}, noise={cfg.noise}, seed={cfg.seed}"
    outcome = CommandResult(
        figures={"training_curves": training_curves(history.rows(), title)},
        headline=history.headline(),
        record=history.record(),
    )
    if result.status == "interrupted":
        outcome.record["resume"] = hint = f"bilin train resume={ctx.folder.path}"
        stopped = f"{result.message}; saved to {ctx.folder.path}; finish it with: {hint}"
        ctx.end_early(outcome, Interrupted(stopped, result.stop_reason or "SIGINT"))
    if result.status != "complete":  # diverged: the last good epoch is saved
        ctx.end_early(outcome, UserError(result.message))

    _, _, predicted = trainer.evaluate()
    accuracy = per_class_accuracy(predicted, trainer.data.test_y, len(data.classes)).tolist()
    outcome.tables["per_class.csv"] = [{"class": c, "val_acc": a} for c, a in zip(data.classes, accuracy, strict=True)]
    outcome.figures["per_class_accuracy"] = per_class_bars(data.classes, accuracy, "Validation accuracy per class")
    final = f"val acc {history.metrics[-1].val_acc * 100:.2f}%"
    outcome.summary = (
        f"resumed run complete: {ctx.folder.path} ({final})"
        if ctx.continuing
        else f"run complete: {ctx.folder.path} | {final} | {outcome.record['train_seconds']:.1f} s training"
    )
    return outcome


COMMAND = Command(
    name="train",
    summary="Train a model into outputs/train/DATE/TIME (Hydra overrides, multirun, launchers).",
    schema=TrainConfig,
    main=main,
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
