"""Model weights on disk: model.safetensors + model.json, and `load_model` for users; a training
checkpoint (checkpoint.pt) beside them, and the check that it holds the model a resume expects.

Both files' SHA-256 are recorded in checksums.json when written, and checked when read. A model.json
written before bilin recorded its checksum (checksums.json lists the weights but not it) is still
read, unverified: loading the model then checks that it fits the verified weights exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load
from torch import nn

from bilin.device import parameter_bytes
from bilin.errors import UserError
from bilin.models.networks import ModelSpec, build_model
from bilin.running.folder import CHECKSUMS, RunDir, read_json, verified_bytes

WEIGHTS = "model.safetensors"
SPEC = "model.json"
CHECKPOINT = "checkpoint.pt"


WEIGHTS_METADATA = {"format": "bilin-model/1"}


def save_model(run: RunDir, model: nn.Module, spec: ModelSpec, extra: dict | None = None) -> None:
    run.save_tensors(WEIGHTS, model.state_dict(), metadata=WEIGHTS_METADATA)
    run.write_checked_json(SPEC, model_record(model.state_dict(), spec, extra))


def model_record(state: dict[str, torch.Tensor], spec: ModelSpec, extra: dict | None = None) -> dict[str, Any]:
    """model.json: the spec, the weights' shapes and what the run adds (the dataset, where the model came from)."""
    record = spec.to_json()
    record["parameters"] = {k: list(v.shape) for k, v in state.items()}
    record.update(extra or {})
    return record


@dataclass
class Checkpoint:
    """A resumable training state (weights, optimiser, generators, epoch, metrics: the Trainer's
    `state()`), the model it is of, and what model.json records beside the spec."""

    state: dict
    model: nn.Module
    spec: ModelSpec
    extra: dict

    def write(self, run: RunDir) -> None:
        """checkpoint.pt, then the state's weights as model.safetensors + model.json (the model is set to them)."""
        run.save_torch(CHECKPOINT, self.state)
        self.model.load_state_dict(self.state["model"])
        save_model(run, self.model, self.spec, {"epoch": self.state["epoch"], **self.extra})


def load_checkpoint(run: RunDir) -> dict:
    """The state a run's checkpoint.pt holds (checked against its recorded SHA-256)."""
    if not run.file(CHECKPOINT).is_file():
        raise UserError(f"{run.path} has no {CHECKPOINT} to resume from")
    return run.load_torch(CHECKPOINT)


def check_checkpoint(folder: Path, spec: ModelSpec, dataset: str) -> None:
    """`folder`'s checkpoint must hold the model `spec` describes (trained on `dataset`): a checkpoint.pt
    copied from another run, or a config edited since, is refused before the run is touched."""
    run = RunDir(folder)
    path = run.file(CHECKPOINT)
    if not path.is_file():
        raise UserError(f"{folder} has no {CHECKPOINT} to resume from")
    gate, bias = f"-{spec.gate}" if spec.gate else "", " with biases" if spec.bias else ""
    described = f"the run's config ({spec.kind}{gate}{bias} d_hidden={spec.d_hidden} on {dataset})"
    if run.file(SPEC).is_file():  # written with every checkpoint: what it was a checkpoint of
        saved = {"bias": False, **run.read_json(SPEC)}  # model.json leaves bias out when false
        wanted = {
            "kind": spec.kind,
            "gate": spec.gate,
            "bias": spec.bias,
            "d_hidden": spec.d_hidden,
            "dataset": dataset,
        }
        wrong = next((k for k, v in wanted.items() if k in saved and saved[k] != v), None)
        if wrong is not None:
            raise UserError(
                f"{folder}'s {SPEC} says {wrong}={saved[wrong]!r}, but {described} says {wanted[wrong]!r}: "
                "the checkpoint is of another model; it cannot be resumed (start a new run)"
            )
    state = load_checkpoint(run)
    weights = state.get("model") if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise UserError(f"{path} is not a bilin train checkpoint: it holds no model state")
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


def load_spec(run_dir: str | Path) -> ModelSpec:
    return ModelSpec.from_json(spec_record(run_dir))


def spec_record(run_dir: str | Path) -> dict[str, Any]:
    """model.json as written, checked against its recorded SHA-256 (see the module's note on older runs)."""
    path = Path(run_dir) / SPEC
    if not path.is_file():
        raise UserError(f"{run_dir} is not a bilin run with a model: {SPEC} not found")
    record = read_json(path)  # a file that is not JSON at all says so, before the checksum does
    sums = path.parent / CHECKSUMS
    if sums.is_file() and SPEC in read_json(sums):
        verified_bytes(path)
    return record


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model of a run from model.json + model.safetensors, in eval mode."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} {'is a file' if run_dir.exists() else 'does not exist'}")
    spec = load_spec(run_dir)
    weights = run_dir / WEIGHTS
    if not weights.is_file():
        raise UserError(f"{run_dir} has no {WEIGHTS}")
    data = verified_bytes(weights)
    if parameter_bytes(lambda: build_model(spec)) > len(data):  # a model.json that would not fit its weights
        raise UserError(
            f"{run_dir / SPEC} describes a larger model than {WEIGHTS} holds; one of them is not this run's"
        )
    model = build_model(spec)
    try:
        model.load_state_dict(load(data))
    except (RuntimeError, OSError, SafetensorError) as exc:
        raise UserError(f"{weights} does not fit the model in {SPEC}: {' '.join(str(exc).split())[:300]}") from exc
    return model.to(device).eval()


def model_dataset(run_dir: str | Path) -> str | None:
    """The dataset a saved model was trained on: model.json says so (older runs: their Hydra config)."""
    run_dir = Path(run_dir)
    dataset = spec_record(run_dir).get("dataset")
    config = run_dir / ".hydra" / "config.yaml"
    if dataset is None and config.is_file():
        import yaml

        dataset = (yaml.safe_load(config.read_text()).get("data") or {}).get("name")
    return dataset
