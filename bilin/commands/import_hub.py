"""`bilin import-hub`: a model the paper's authors published (their hub layout: `{name}/config.json` +
`{name}/model.safetensors`), or any bilinear MLP's state dict through a key mapping, checked and written as a
bilin run folder (model.safetensors + model.json) that every command taking run= reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult, TensorFile
from bilin.settings.options import DataConfig, RunOptions
from bilin.settings.schema import group, key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class ImportHubConfig(RunOptions):
    source: str | None = key(
        None,
        "a hub repo id (owner/name), a local copy of one, or a model's own folder; with mapping=, a state-dict "
        "file (.safetensors, .pt)",
    )
    name: str | None = key(None, "the model's folder in the repo ({name}/config.json, {name}/model.safetensors)")
    revision: str | None = key(None, "hub: the branch, tag or commit to read (null: main)")
    mapping: str | None = key(
        None, "a YAML or JSON file naming source's keys: embed, left + right (or bilinear), head, biases"
    )
    evaluate: bool = key(True, "also measure its accuracy on data='s test split (val_acc): a check of data=")
    data: DataConfig = group(
        "mnist", "the dataset the model was trained on (the authors' config does not say; theirs are MNIST)", DataConfig
    )

    def check(self) -> None:
        super().check()
        if not self.source:
            raise UserError("give source=<hub repo id, repo folder or model folder> (and name=<model> in a repo)")
        if self.mapping is not None and (self.name is not None or self.revision is not None):
            raise UserError("mapping= reads one state-dict file; name= and revision= belong to the authors' layout")


def main(cfg: ImportHubConfig, ctx: RunContext) -> CommandResult:
    import torch

    from bilin.data import load_dataset
    from bilin.models.checkpoint import WEIGHTS, WEIGHTS_METADATA, model_record
    from bilin.models.hub_layout import spec_for
    from bilin.models.hub_source import import_model
    from bilin.models.networks import build_model

    ctx.stage(f"reading {cfg.source}" + (f" {cfg.name}" if cfg.name else ""))
    imported = import_model(cfg.source, cfg.name, cfg.revision, cfg.mapping)
    spec = spec_for(imported.weights, cfg.data.name)
    state = imported.weights.bilin_state()
    model = build_model(spec)
    model.load_state_dict(state)  # strict: the run's model.json and weights fit each other
    provenance = imported.provenance | ({"config": imported.config} if imported.config is not None else {})
    record = model_record(state, spec, {"dataset": cfg.data.name, "imported": provenance})
    bias = " with biases (head bias 0)" if spec.bias and imported.weights.head_bias is None else ""
    run_record: dict = {"imported": provenance, "dataset": cfg.data.name}
    headline = {}
    if cfg.evaluate:
        data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, test_limit=cfg.data.test_limit)
        with torch.no_grad():
            predicted = model.eval()(data.test_x.flatten(1).float() / 255).argmax(1)
        headline["val_acc"] = float((predicted == data.test_y).float().mean())
        run_record["data"] = {cfg.data.name: data.provenance()}
    accuracy = f", test accuracy {headline['val_acc']:.4f}" if headline else ""
    return CommandResult(
        tensors={WEIGHTS: TensorFile(state, WEIGHTS_METADATA)},
        checked_json={"model.json": record},
        record=run_record,
        headline=headline,
        summary=f"import-hub complete: {ctx.folder.path} (bilinear d={spec.d_hidden}{bias}, {cfg.data.name}"
        f"{accuracy}); read it with: bilin decompose run={ctx.folder.path}",
    )


COMMAND = Command(
    name="import-hub",
    summary="A published model (the authors' hub layout) or a state dict with a key mapping, as a bilin run.",
    schema=ImportHubConfig,
    main=main,
    panel="Run folders",
    examples=(
        "bilin import-hub source=<owner/repo> name=<model folder>   (a hub repo; HF_HOME caches it)",
        "bilin import-hub source=path/to/repo name=<model folder> data=mnist",
        "bilin import-hub source=my_model.pt mapping=keys.yaml data=fmnist",
    ),
    notes="The run folder it writes holds model.safetensors + model.json (with the source, its files' SHA-256 "
    "and, for the authors' layout, their config); bilin decompose/diff/featvis/probe-csf run=<it> read it. "
    "See docs/interop.md.",
    draws_figures=False,
)
