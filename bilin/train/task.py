"""`bilin train`: config -> data -> model -> training loop -> figures -> run folder."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from bilin.checkpoint import save_model
from bilin.config import check_train_config
from bilin.data import DATASETS, load_dataset
from bilin.errors import UserError
from bilin.figures.training import per_class_bars, training_curves
from bilin.models import ModelSpec, build_model
from bilin.provenance import provenance, utc_now
from bilin.rundir import RunDir
from bilin.train.loop import DeviceData, EpochMetrics, FitResult, HParams, Trainer, per_class_accuracy
from bilin.train.progress import epoch_progress
from bilin.train.signals import EXIT_CODES, stop_on_signals

log = logging.getLogger("bilin.train")
CHECKPOINT = "checkpoint.pt"
RESUMABLE = ("interrupted", "running", "failed")


class RunStopped(Exception):
    """Training ended early (signal or divergence); carries the exit code for the CLI."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is available here; use device=cpu or device=auto")
    return torch.device(name)


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "tf32" and device.type != "cuda":
        raise UserError("precision=tf32 is a CUDA matmul mode; on CPU use precision=fp32 or bf16")


def _apply_precision(precision: str, device: torch.device) -> None:
    check_precision(precision, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"


def hparams(cfg: DictConfig) -> HParams:
    return HParams(epochs=cfg.epochs, lr=cfg.lr, wd=cfg.wd, batch_size=cfg.batch_size, noise=cfg.noise,
                   seed=cfg.seed, precision=cfg.precision, compile=cfg.compile,
                   cuda_graph=cfg.cuda_graph)


def run_train(cfg: DictConfig, run_dir: str | Path, resume: bool = False) -> dict:
    """Train (or finish training) the run in `run_dir`; returns the final run.json record."""
    check_train_config(cfg)
    run = RunDir(run_dir)
    record = run.read_json("run.json") if resume else {"started": utc_now()}
    record.update(status="running", **{"resumed": utc_now()} if resume else {})
    wall_start = time.perf_counter()
    try:
        device = resolve_device(cfg.device)
        _apply_precision(cfg.precision, device)
        record.update(provenance(device))
        run.write_json("run.json", record)
        data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.train_limit,
                            cfg.data.test_limit)
        if len(data.train_x) < cfg.batch_size:
            raise UserError(f"batch_size={cfg.batch_size} is larger than the {len(data.train_x)} training images")
        result, trainer, spec = _fit(cfg, run, data, device, resume)
    except UserError as exc:
        run.write_json("run.json", {**record, "status": "failed", "error": str(exc), "finished": utc_now()})
        raise
    record["wall_seconds"] = record.get("wall_seconds", 0.0) + time.perf_counter() - wall_start
    return _finish(cfg, run, record, result, trainer, spec, data.classes)


def _fit(cfg: DictConfig, run: RunDir, data, device: torch.device, resume: bool):
    torch.manual_seed(cfg.seed)  # fixes the init; data order and noise have their own generators
    spec = ModelSpec(kind=cfg.model.name, d_input=int(data.train_x[0].numel()), d_hidden=cfg.d_hidden,
                     d_output=len(DATASETS[cfg.data.name].classes), gate=cfg.model.gate,
                     input_shape=tuple(data.train_x.shape[1:]), classes=data.classes,
                     decorrelate=bool(cfg.model.get("decorrelate", False)))
    model = build_model(spec)
    if spec.decorrelate:
        if spec.kind != "cnn" or spec.input_shape[0] < 2:
            raise UserError("model.decorrelate=true whitens colours: it needs model=cnn and colour images (data=cifar10)")
        model.fit_whitening(data.train_x.float() / 255)
    model = model.to(device)
    device_data = DeviceData.from_uint8(data.train_x, data.train_y, data.test_x, data.test_y, device)
    trainer = Trainer(model, device_data, hparams(cfg), device)
    if resume:
        if not run.file(CHECKPOINT).is_file():
            raise UserError(f"{run.path} has no {CHECKPOINT} to resume from")
        trainer.load_state(run.load_torch(CHECKPOINT))

    def on_epoch(metric: EpochMetrics, trainer: Trainer) -> None:
        report(metric)
        if cfg.checkpoint_every and metric.epoch % cfg.checkpoint_every == 0 and metric.epoch < cfg.epochs:
            _save_state(run, trainer.state(), trainer, spec)

    label = f"{cfg.model.name}{'-' + cfg.model.gate if cfg.model.gate else ''} {cfg.data.name} d={cfg.d_hidden}"
    with stop_on_signals() as stop, epoch_progress(label, cfg.epochs, len(trainer.metrics), cfg.quiet) as report:
        result = trainer.fit(stop, on_epoch)
    return result, trainer, spec


def _save_state(run: RunDir, state: dict, trainer: Trainer, spec: ModelSpec) -> None:
    """Weights + everything a resume needs, as of the epoch in `state`."""
    run.save_torch(CHECKPOINT, state)
    trainer.model.load_state_dict(state["model"])
    save_model(run, trainer.model, spec, {"epoch": state["epoch"], "dataset": run_dataset(run)})
    run.write_csv("metrics.csv", state["metrics"])


def run_dataset(run: RunDir) -> str | None:
    config = run.file(".hydra/config.yaml")
    return OmegaConf.load(config).data.name if config.is_file() else None


def _finish(cfg, run: RunDir, record: dict, result: FitResult, trainer: Trainer, spec: ModelSpec,
            classes: tuple[str, ...]) -> dict:
    _save_state(run, result.checkpoint, trainer, spec)
    metrics = result.checkpoint["metrics"]
    record.update(epochs_completed=len(metrics), finished=utc_now(),
                  train_seconds=sum(m["seconds"] for m in metrics))
    if metrics:
        record["final"] = {k: metrics[-1][k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")}
    figures = {"training_curves": training_curves(metrics, f"{spec.kind} {cfg.data.name}, d={cfg.d_hidden}, "
                                                            f"noise={cfg.noise}, seed={cfg.seed}")}
    if result.status == "complete":
        _, _, predicted = trainer.evaluate()
        accuracy = per_class_accuracy(predicted, trainer.data.test_y, len(classes)).tolist()
        run.write_csv("per_class.csv", [{"class": c, "val_acc": a} for c, a in zip(classes, accuracy)])
        figures["per_class_accuracy"] = per_class_bars(classes, accuracy, "Validation accuracy per class")
    note = run.write_figures(figures)
    if note:
        record["figures_note"] = note
        print(note)
    if result.status == "complete":
        record["status"] = "complete"
        run.write_json("run.json", record)
        return record
    if result.status == "interrupted":
        record.update(status="interrupted", resume=f"bilin train resume={run.path}")
        run.write_json("run.json", record)
        raise RunStopped(f"{result.message}; saved to {run.path}; finish it with: bilin train resume={run.path}",
                         EXIT_CODES.get(result.stop_reason, 130))
    record.update(status="failed", error=result.message)
    run.write_json("run.json", record)
    raise RunStopped(result.message, 2)


def load_run_config(run_dir: Path) -> DictConfig:
    """The resolved config a run was started with (Hydra's .hydra/config.yaml)."""
    path = run_dir / ".hydra" / "config.yaml"
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} does not exist")
    if not path.is_file():
        raise UserError(f"{run_dir} is not a bilin train run: {path} not found")
    return OmegaConf.load(path)


def resume_run(run_dir: str | Path, overrides: dict) -> dict:
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    status_file = run_dir / "run.json"
    status = RunDir(run_dir).read_json("run.json").get("status") if status_file.is_file() else None
    if status == "complete":
        raise UserError(f"{run_dir} is already complete; nothing to resume")
    if status not in RESUMABLE:
        raise UserError(f"{run_dir} cannot be resumed: run.json status is {status!r}")
    for key, value in overrides.items():
        cfg[key] = value
    cfg.resume = None
    log_file = logging.FileHandler(run_dir / "train.log")  # Hydra set this up for the first part
    log_file.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger("bilin").addHandler(log_file)
    logging.getLogger("bilin").setLevel(logging.INFO)
    try:
        return run_train(cfg, run_dir, resume=True)
    finally:
        logging.getLogger("bilin").removeHandler(log_file)
        log_file.close()
