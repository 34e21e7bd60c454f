"""Training settings are written once, in the training library's records: the commands' schemas inherit
them, the Trainer gets `bilin train`'s config itself, and the recipe (the model cache's key) is read
from a config by field name, its keys unchanged."""

from __future__ import annotations

from dataclasses import fields

import pytest
from omegaconf import OmegaConf

from bilin.commands import commands
from bilin.commands.train import COMMAND, TrainConfig
from bilin.running.lifecycle import execute
from bilin.settings.options import CachedRecipe, DataConfig, GridOptions, ModelConfig, RecipeOptions
from bilin.settings.schema import info
from bilin.train.loop import Trainer
from bilin.train.recipe import Recipe, recipe_from_config
from bilin.train.records import HParams, TrainingSettings

RECORD = {f.name: f for f in fields(HParams)}


def own_field(schema: type, name: str):
    return next(f for f in fields(schema) if f.name == name)


def test_train_configs_training_keys_are_the_records_fields_themselves():
    """Not copies: a default or help written again in TrainConfig or RecipeOptions would be another Field."""
    assert issubclass(TrainConfig, HParams) and issubclass(RecipeOptions, TrainingSettings)
    for name, record_field in RECORD.items():
        assert own_field(TrainConfig, name) is record_field, name
    for f in fields(TrainingSettings):
        assert own_field(RecipeOptions, f.name) is f, f.name


def test_a_command_may_change_a_training_default_but_not_its_range():
    """A study's schema may train its models longer or shorter (frequency: 20 epochs), but a training
    key's range is the record's everywhere; the grids' noise keeps the record's help too."""
    schemas = {c.schema for c in commands() if c.schema and issubclass(c.schema, RecipeOptions)}
    assert TrainConfig in schemas and len(schemas) > 3
    for schema in schemas:
        for f in (f for f in fields(schema) if f.name in RECORD):
            bounds = [(info(g).ge, info(g).gt, info(g).le) for g in (f, RECORD[f.name])]
            assert bounds[0] == bounds[1], (schema.__name__, f.name)
    grid_noise = own_field(GridOptions, "noise")
    assert grid_noise.default == 0.4 and info(grid_noise) == info(RECORD["noise"])
    assert own_field(CachedRecipe, "precision").default == RECORD["precision"].default


def test_the_model_cache_cannot_train_tf32():
    from bilin.settings.schema import choices, hints

    assert choices(hints(TrainConfig)["precision"]) == ("fp32", "tf32", "bf16", "auto")
    assert choices(hints(CachedRecipe)["precision"]) == ("fp32", "bf16", "auto")


def config(**keys) -> TrainConfig:
    return TrainConfig(model=ModelConfig("bilinear"), data=DataConfig("mnist"), **keys)


def test_recipe_keys_are_unchanged():
    """The model cache's keys of existing caches (values computed before the settings moved)."""
    assert recipe_from_config(config()).key() == "06569e72ccf2b51f"
    assert recipe_from_config(config()).key("abc") == "32f4bdc02347e083"
    cnn = TrainConfig(
        model=ModelConfig("cnn", decorrelate=True),
        data=DataConfig("cifar10", train_limit=100),
        d_hidden=30,
        seed=3,
        precision="bf16",
        noise=0.25,
    )
    assert recipe_from_config(cnn).key() == "0a386088124115ff"
    assert [f.name for f in fields(Recipe)] == [
        *("model", "gate", "data", "d_hidden", "epochs", "lr", "wd", "batch_size", "precision", "noise", "seed"),
        *("train_limit", "test_limit", "decorrelate", "bias", "augment", "rule"),  # the last three: unkeyed while off
    ]


def test_a_recipe_from_a_saved_config_a_typed_one_or_with_changes():
    cfg = config(d_hidden=24, seed=7, epochs=3, lr=0.02, wd=0.5, batch_size=32, noise=0.1)
    cfg.model.gate, cfg.data.train_limit = "relu", 500
    recipe = recipe_from_config(cfg)
    assert recipe == Recipe("bilinear", "relu", "mnist", 24, 3, 0.02, 0.5, 32, "fp32", 0.1, 7, 500, None, False)
    saved = OmegaConf.create(
        {"model": {"name": "bilinear", "gate": "relu"}, "data": {"name": "mnist", "train_limit": 500}}
    )
    saved.update({"d_hidden": 24, "seed": 7, "epochs": 3, "lr": 0.02, "wd": 0.5, "batch_size": 32, "noise": 0.1})
    saved.precision = "fp32"
    assert recipe_from_config(saved) == recipe  # a run saved before decorrelate existed: its default
    assert recipe_from_config(cfg, d_hidden=8, seed=1) == Recipe(
        "bilinear", "relu", "mnist", 8, 3, 0.02, 0.5, 32, "fp32", 0.1, 1, 500, None, False
    )


def test_the_recipes_trainer_settings_are_its_own_and_the_records_defaults():
    cfg = config(epochs=3, lr=0.02, wd=0.5, batch_size=32, noise=0.1, seed=7, d_hidden=8)
    hp = recipe_from_config(cfg).hparams()
    assert [getattr(hp, f.name) for f in fields(TrainingSettings)] == [
        getattr(cfg, f.name) for f in fields(TrainingSettings)
    ]
    assert hp.seed == 7 and (hp.compile, hp.cuda_graph) == (RECORD["compile"].default, RECORD["cuda_graph"].default)


def test_bilin_train_hands_the_trainer_its_config_itself(tmp_path, tiny_root, monkeypatch):
    monkeypatch.setenv("BILIN_FIGURE_FORMATS", "")
    received = []
    build = Trainer.__init__

    def spy(self, model, data, hp, *args, **kwargs):
        received.append(hp)
        build(self, model, data, hp, *args, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", spy)
    cfg = config(d_hidden=8, epochs=1, batch_size=64, lr=0.02, wd=0.1, device="cpu", quiet=True)
    cfg.data = DataConfig("mnist", root=str(tiny_root), download=False)
    (tmp_path / "run").mkdir()
    execute(COMMAND, cfg, tmp_path / "run")
    assert len(received) == 1 and received[0] is cfg
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 2


@pytest.mark.parametrize("name", sorted(RECORD))
def test_every_training_key_is_a_flat_command_line_key(name):
    """`bilin train epochs=3` etc.: the inherited keys stay top-level keys of train's --help."""
    from bilin.settings.schema import describe

    assert name in {k.name for k in describe(TrainConfig)}
