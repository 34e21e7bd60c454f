"""`bilin train`: config -> data -> model -> training loop -> figures -> run folder.

`resume=<run dir>` finishes an interrupted run in place from its last checkpoint (bit-identical
on CPU to a run that was never stopped).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult
from bilin.settings.options import RecipeOptions, d_hidden_key
from bilin.settings.schema import key
from bilin.train.records import HParams

if TYPE_CHECKING:
    from bilin.data import ImageDataset
    from bilin.models.networks import ModelSpec
    from bilin.running.lifecycle import RunContext


@dataclass
class TrainConfig(RecipeOptions, HParams):
    """The recipe's keys and the Trainer's (seed, compile, cuda_graph), both the training library's, and these."""

    d_hidden: int = d_hidden_key()
    checkpoint_every: int = key(10, "also write a resumable checkpoint every N epochs (0: only at the end)", ge=0)
    resume: str | None = key(None, "finish an interrupted run in place (only device= and quiet= may be given with it)")
    init: str | None = key(
        None,
        "fine-tune: start from this complete train run's or cache entry's weights (the same model and dataset) "
        "instead of the seed's init; such a run is never adopted as a cache entry",
    )
    train_classes: list[int] | None = key(
        None, "train only on the images of these classes (validation keeps every class; the outputs stay all)"
    )

    def check(self) -> None:
        super().check()
        from bilin.settings.options import check_source_run

        check_source_run(self.init, allow_incomplete=False, name="init")
        if self.train_classes is not None:
            from bilin.data import DATASETS

            count = len(DATASETS[self.data.name].classes)
            if not self.train_classes or any(not 0 <= c < count for c in self.train_classes):
                raise UserError(
                    f"train_classes={list(self.train_classes)} must name at least one class of "
                    f"{self.data.name}: 0..{count - 1}"
                )
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
    ctx.clock.switch("imports")
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

    ctx.clock.switch("data")
    apply_precision(cfg.precision, ctx.device)
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.train_limit, cfg.data.test_limit)
    ctx.note(data={cfg.data.name: data.provenance()})  # the folder read and its content's SHA-256
    if cfg.train_classes is not None:  # after the note: the SHA-256 is of the data as read
        data = training_subset(data, cfg.train_classes)
        ctx.note(train_classes=list(cfg.train_classes), train_images=len(data.train_x))
    if len(data.train_x) < cfg.batch_size:
        raise UserError(f"batch_size={cfg.batch_size} is larger than the {len(data.train_x)} training images")
    recipe = recipe_from_config(cfg)  # the model spec, its init and the cache key derive from it
    ctx.note(recipe=recipe.record())  # bilin cache add checks a run's config against it
    spec = recipe.spec(data)
    check_training_fits(spec, 1, cfg.batch_size, len(data.train_x), ctx.device)
    gate, bias = f"-{cfg.model.gate}" if cfg.model.gate else "", " with biases" if cfg.model.bias else ""
    label = f"{cfg.model.name}{gate}{bias} {cfg.data.name} d={cfg.d_hidden}"

    def measured(step_seconds: float, steps: int) -> None:  # the first steps timed: the estimate again
        left = cfg.epochs - len(trainer.metrics)
        seconds = measured_seconds(step_seconds, len(data.train_x), len(data.test_x), cfg.batch_size, left)
        ctx.stage(f"{label}: " + plan_line(1, left, seconds, ctx.device, measured_basis(steps)))

    device_data = DeviceData.from_uint8(data.train_x, data.train_y, data.test_x, data.test_y, ctx.device)
    ctx.clock.switch("model")  # the model and its optimiser (torch.optim imports torch._dynamo on first use)
    model = recipe.initial_model(data).to(ctx.device)  # data order and noise: the trainer's own generators
    if cfg.init is not None and not ctx.continuing:
        model.load_state_dict(initial_weights(cfg.init, spec, cfg.data.name))
        ctx.note(init=str(Path(cfg.init).absolute()))
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
        row = asdict(metric)
        ctx.log_metrics(row.pop("epoch"), row)  # to the trackers of logger=, if any
        report(metric)
        if cfg.checkpoint_every and metric.epoch % cfg.checkpoint_every == 0 and metric.epoch < cfg.epochs:
            save(trainer.state())

    left = cfg.epochs - len(trainer.metrics)
    seconds = epoch_seconds(spec, len(data.train_x), len(data.test_x), ctx.device, cfg.precision)
    ctx.stage(f"{label}: " + plan_line(1, left, seconds * left if seconds is not None else None, ctx.device))
    ctx.clock.switch("training")
    with ctx.polling() as stop, epoch_progress(label, cfg.epochs, len(trainer.metrics), cfg.quiet) as report:
        result = trainer.fit(stop, on_epoch)
    ctx.clock.switch("writes")
    save(result.checkpoint)
    history = History(result.metrics)  # the checkpoint's: up to the last good epoch
    ctx.write(history)

    title = f"{spec.kind}{bias} {cfg.data.name}, d={cfg.d_hidden}, noise={cfg.noise}, seed={cfg.seed}"
    outcome = CommandResult(
        figures={"training_curves": training_curves(history.rows(), title)},
        headline=history.headline(),
        record=history.record(),
    )
    if result.status != "complete":  # interrupted, or diverged: the last good epoch is saved
        hint = f"bilin train resume={ctx.folder.path}"
        stopped = f"{result.message}; saved to {ctx.folder.path}; finish it with: {hint}"
        interrupted = result.status == "interrupted"
        error = Interrupted(stopped, result.stop_reason or "SIGINT") if interrupted else UserError(result.message)
        if interrupted:
            outcome.record["resume"] = hint
        ctx.end_early(outcome, error)  # run.json says how it ended before its figures are drawn (lifecycle)

    with ctx.phase("evaluation"):
        _, _, predicted = trainer.evaluate()  # the last epoch's validation: a complete run saved those weights
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


def training_subset(data: ImageDataset, classes: list[int]) -> ImageDataset:
    """The dataset with only the training images of `classes` (the test split and the labels unchanged)."""
    import torch

    keep = torch.isin(data.train_y, torch.tensor(sorted(set(classes))))
    return replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep])


def initial_weights(folder: str, spec: ModelSpec, dataset: str) -> dict:
    """init=: the weights of a complete run or cache entry, checked to be the model this run trains."""
    from dataclasses import fields

    from bilin.models.checkpoint import load_model, load_spec, model_dataset

    theirs, trained_on = load_spec(folder), model_dataset(folder)
    differ = [f.name for f in fields(spec) if f.name != "classes" and getattr(theirs, f.name) != getattr(spec, f.name)]
    if differ or trained_on != dataset:
        what = ", ".join(f"{n}={getattr(theirs, n)!r} (this run: {getattr(spec, n)!r})" for n in differ)
        what = what or f"dataset {trained_on} (this run: {dataset})"
        raise UserError(f"init={folder} holds another model: {what}")
    return load_model(folder).state_dict()  # its weights' SHA-256 verified


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
        "bilin train init=outputs/train/DATE/TIME train_classes=[0,1] epochs=5   (fine-tune on two classes)",
        "bilin train logger=[tensorboard,mlflow]                (also log to TensorBoard and MLflow)",
    ),
    continues_run="resume",
    continue_keys=("device", "quiet"),
)
