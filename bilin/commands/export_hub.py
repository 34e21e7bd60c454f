"""`bilin export-hub`: a bilin model written in the layout the paper's authors published theirs in
(`{name}/config.json` + `{name}/model.safetensors`, bilin/models/hub_layout.py), so that their code loads it
with a strict state-dict load; the run folder is a hub repo folder, ready to upload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult, TensorFile
from bilin.settings.options import CachedRecipe, allow_incomplete_key, check_source_run, d_hidden_key
from bilin.settings.schema import key
from bilin.train.records import model_seed_key

if TYPE_CHECKING:
    from pathlib import Path

    from bilin.running.lifecycle import RunContext


@dataclass
class ExportHubConfig(CachedRecipe):
    run: str | None = key(None, "a train run folder, cache entry or import; else the model comes from the cache")
    allow_incomplete: bool = allow_incomplete_key()
    d_hidden: int = d_hidden_key()
    seed: int = model_seed_key()
    name: str | None = key(None, "the model's folder in the layout (null: the source folder's name)")

    def check(self) -> None:
        super().check()
        if self.run is None:  # the cache's model is trained from this config: refuse what the layout cannot hold
            if self.model.name != "bilinear" or self.model.gate is not None:
                gate = f" with gate={self.model.gate}" if self.model.gate else ""
                raise UserError(
                    f"the authors' layout holds only the ungated bilinear MLP, not {self.model.name}{gate}; "
                    "use model=bilinear"
                )
            if self.model.bias:
                raise UserError("model.bias=true trains a head bias; the authors' layout has none (no head bias)")
        check_source_run(self.run, self.allow_incomplete)
        if self.name is not None and (not self.name or "/" in self.name or self.name in (".", "..")):
            raise UserError(f"name={self.name!r}: one folder name (no '/'), as the hub repo's model folder")


def main(cfg: ExportHubConfig, ctx: RunContext) -> CommandResult:
    from pathlib import Path

    from bilin.models.checkpoint import load_model, load_spec
    from bilin.models.hub_layout import CONFIG, WEIGHTS, to_authors, weights_of

    folder = Path(cfg.run) if cfg.run is not None else _cached(cfg, ctx)
    try:
        spec, model = load_spec(folder), load_model(folder)
        training, seed = _training(folder)
        exported = to_authors(weights_of(spec, model.state_dict()), training, seed)
    except UserError as exc:
        raise UserError(f"{folder} cannot be written in the authors' layout: {exc}") from exc
    name = cfg.name or folder.name
    place = ctx.folder.path / name
    return CommandResult(
        tensors={f"{name}/{WEIGHTS}": TensorFile(exported.tensors)},
        texts={f"{name}/{CONFIG}": exported.config_text()},
        record={"exported": {"source": str(folder), "name": name, "config": exported.config}},
        summary=f"export-hub complete: {place} (the authors' Model.from_config(**config.json) + load_model read "
        f"it); upload with: hf upload <owner/repo> {place} {name}",
    )


def _cached(cfg: ExportHubConfig, ctx: RunContext) -> Path:
    from bilin.cache.store import ModelCache
    from bilin.train.recipe import recipe_from_config

    recipe = recipe_from_config(cfg)
    return ctx.cached_models(ModelCache.of(cfg), [recipe])[recipe]


def _training(folder: Path) -> tuple[dict[str, Any], int]:
    """How the model was trained, as the authors' Config says it (lr, wd, epochs, batch_size; seed): an imported
    model's own config, else the run's recipe; what neither records is null (the seed 0)."""
    from bilin.models.checkpoint import spec_record
    from bilin.train.recipe import recipe_of_run

    imported = (spec_record(folder).get("imported") or {}).get("config")
    if isinstance(imported, dict):
        return imported, int(imported.get("seed", 0))
    recipe = recipe_of_run(folder)
    if recipe is None:
        return {}, 0
    return {"lr": recipe.lr, "wd": recipe.wd, "epochs": recipe.epochs, "batch_size": recipe.batch_size}, recipe.seed


COMMAND = Command(
    name="export-hub",
    summary="A bilin model in the authors' published layout ({name}/config.json + model.safetensors).",
    schema=ExportHubConfig,
    main=main,
    panel="Run folders",
    examples=(
        "bilin export-hub run=outputs/train/DATE/TIME name=mnist-d512",
        "bilin export-hub data=mnist d_hidden=512 seed=0   (the cache's model, trained if missing)",
    ),
    notes="Ungated bilinear MLPs only; a model with biases only when its head bias is 0 (theirs has none). The "
    "run folder holds <name>/config.json and <name>/model.safetensors: upload <name>/ to a hub repo, or read "
    "it back with bilin import-hub source=<run folder> name=<name>. See docs/interop.md.",
    draws_figures=False,
)
