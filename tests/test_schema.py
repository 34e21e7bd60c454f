"""Schemas are the single source of keys and defaults: Hydra's mirror, checks, help, presets."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Literal, get_args, get_origin, get_type_hints

import pytest
from hydra import compose
from omegaconf import OmegaConf
from rich.markup import escape

from bilin.cli import hydra_app
from bilin.cli.app import help_text
from bilin.commands import commands
from bilin.errors import UserError
from bilin.settings import schema
from bilin.settings.options import MLP_MODELS, DataConfig, ModelConfig
from bilin.settings.schema import group, key

CONFIGURED = [c for c in commands() if c.schema is not None]


@dataclass
class Inner:
    name: Literal["a", "b"] = key(schema.UNSET, "set by a group")
    size: int = key(3, "a size", ge=1)


@dataclass
class Example:
    inner: Inner = group("a", "the inner group", Inner)
    mode: Literal["x", "y"] = key("x", "a choice")
    maybe: Literal["p", "q"] | None = key(None, "an optional choice")
    rate: float = key(0.5, "a rate", gt=0, le=1)
    items: list[Literal["u", "v"]] = key(["u"], "a list of choices")
    counts: list[int] = key([1, 2], "positive counts", ge=1)

    def check(self) -> None:
        if self.mode == "y" and self.rate > 0.9:
            raise UserError("mode=y needs rate <= 0.9")


def checked(**values) -> Example:
    base = {
        "inner": {"name": "a", "size": 3},
        "mode": "x",
        "maybe": None,
        "rate": 0.5,
        "items": ["u"],
        "counts": [1, 2],
    }
    config = schema.load(Example, {**base, **values})
    schema.validate(config)
    return config


def test_hydra_sees_literals_as_their_plain_type_with_the_same_defaults():
    node = OmegaConf.structured(schema.hydra_node(Example))
    assert node.mode == "x" and node.maybe is None and list(node["items"]) == ["u"] and node.inner.size == 3
    with pytest.raises(Exception, match="could not be converted"):
        node.rate = "fast"
    assert schema.group_defaults(Example) == {"inner": "a"}


@pytest.mark.parametrize(
    "values,message",
    [
        ({"mode": "z"}, "mode='z' is not one of ('x', 'y')"),
        ({"maybe": "r"}, "maybe='r' is not one of ('p', 'q')"),
        ({"items": ["u", "w"]}, "items: 'w' is not one of ('u', 'v')"),
        ({"rate": 0.0}, "rate=0.0 must be > 0"),
        ({"rate": 1.5}, "rate=1.5 must be <= 1"),
        ({"rate": float("inf")}, "rate=inf must be a finite number"),
        ({"rate": float("nan")}, "rate=nan must be a finite number"),
        ({"counts": [1, 0]}, "counts=[1,0] must all be >= 1"),
        ({"inner": {"name": "a", "size": 0}}, "inner.size=0 must be >= 1"),
        ({"inner": {"name": "c", "size": 3}}, "inner.name='c' is not one of ('a', 'b')"),
        ({"inner": {"name": schema.UNSET, "size": 3}}, "inner.name has no value"),
        ({"mode": "y", "rate": 0.95}, "mode=y needs rate <= 0.9"),
        ({"sped": 2}, "unknown key 'sped'"),
    ],
)
def test_every_bad_value_is_named(values, message):
    with pytest.raises(UserError) as error:
        checked(**values)
    assert message in str(error.value)


def test_good_values_pass_and_load_as_the_schema():
    config = checked(maybe="q", items=["v", "u"], rate=1.0)
    assert isinstance(config, Example) and isinstance(config.inner, Inner) and config.items == ["v", "u"]


def test_describe_lists_every_key_with_its_default():
    described = {k.name: k for k in schema.describe(Example)}
    assert list(described) == ["inner", "inner.size", "mode", "maybe", "rate", "items", "counts"]
    assert described["inner"].group and described["inner"].default == "a"
    assert described["counts"].default == "[1,2]" and described["maybe"].default == "null"
    assert described["mode"].choices == ("x", "y") and described["items"].choices == ("u", "v")


@pytest.mark.parametrize("command", CONFIGURED, ids=lambda c: c.name)
def test_help_lists_every_key_default_and_choice(command):
    text = help_text(command)
    for item in schema.describe(command.schema):
        assert f"[bold]{escape(item.name)}={escape(item.default)}[/bold]" in text, item.name
    for preset in hydra_app.group_options("experiment", command):
        assert preset in text


def enumerable_keys(node: type, prefix: str = "") -> dict[str, set[str]]:
    """Every key of a schema whose values form a closed set, with that set as typed on the command
    line, read from the dataclass's fields (not from describe): config groups, Literals (also of
    list items), booleans; null too when the key may be null."""
    found = {}
    for f in fields(node):
        tp = get_type_hints(node)[f.name]
        optional = type(None) in get_args(tp)
        inner = next((a for a in get_args(tp) if a is not type(None)), tp) if optional else tp
        if get_origin(inner) is list:
            inner = get_args(inner)[0]
        name = f"{prefix}{f.name}"
        if schema.info(f).group:
            found[name] = set(hydra_app.group_options(f.name))
            found |= {k: v for k, v in enumerable_keys(inner, f"{name}.").items()}
            continue
        if inner is bool:
            values = {"true", "false"}
        elif get_origin(inner) is Literal:
            values = {str(v) for v in get_args(inner)}
        else:
            continue
        found[name] = values | ({"null"} if optional else set())
    return found


def help_rows(command) -> dict[str, str]:
    """{key: its line in --help} (the line's key part is `key=default`)."""
    rows = {}
    for line in help_text(command).splitlines():
        match = re.match(r"\s+\[bold\]([\w.]+)=", line)
        if match:
            rows[match.group(1)] = line
    return rows


@pytest.mark.parametrize("command", CONFIGURED, ids=lambda c: c.name)
def test_every_enumerable_key_shows_all_its_choices_in_help(command):
    rows = help_rows(command)
    keys = enumerable_keys(command.schema)
    assert {"device", "quiet"} <= set(keys)  # the walk finds what every command has
    for name, values in keys.items():
        if name.endswith(".name"):  # set by its group (model=, data=, executor=), not typed
            continue
        assert name in rows, f"{command.name}: {name} is not in --help"
        shown = re.search(r"\[dim\]\((.*)\)\[/dim\]$", rows[name])
        assert shown, f"{command.name} --help: {name} lists no choices"
        assert set(shown.group(1).split(" | ")) == values, f"{command.name} --help: {name}"


def test_the_real_help_shows_boolean_and_optional_choices(tmp_path):
    from tests.conftest import run_bilin

    result = run_bilin(["train", "--help"], tmp_path, {"COLUMNS": "300"})
    assert result.returncode == 0
    assert re.search(r"quiet=false .*\(true \| false\)", result.stdout)
    assert re.search(r"model\.gate=null .*\(relu \| silu \| gelu \| null\)", result.stdout)


def _compose(command, overrides):
    hydra_app.register(command)
    with hydra_app._compose_api(command):
        return hydra_app.to_schema(command, compose(command.config_name, overrides=overrides))


NEEDS_A_MODEL = {
    "featvis": ["net=tv:resnet18"],
    "diff": ["run=.", "other=.", "allow_incomplete=true"],
    "import-hub": ["source=."],
}


@pytest.mark.parametrize("command", CONFIGURED, ids=lambda c: c.name)
def test_the_schema_defaults_are_what_a_run_gets(command):
    overrides = NEEDS_A_MODEL.get(command.name, [])
    config = _compose(command, overrides)
    for f in fields(command.schema):
        if schema.info(f).group or any(o.startswith(f"{f.name}=") for o in overrides):
            continue
        expected = f.default_factory() if f.default_factory is not schema.MISSING else f.default
        if isinstance(expected, str) and "${" in expected:
            continue  # an interpolation, resolved at composition
        assert getattr(config, f.name) == expected, f.name


@pytest.mark.parametrize(
    "command,preset",
    [(c, p) for c in CONFIGURED for p in hydra_app.group_options("experiment", c)],
    ids=lambda x: getattr(x, "name", x),
)
def test_every_preset_composes_and_passes_the_checks(command, preset, tmp_path):
    text = (hydra_app.CONFIG_DIR / "experiment" / command.name / f"{preset}.yaml").read_text()
    (tmp_path / "run.json").write_text('{"status": "complete"}')  # a source run passes only when complete
    overrides = [f"run={tmp_path}"] if command.name == "featvis" and "net:" not in text else []
    config = _compose(command, [f"experiment={preset}", *overrides])
    assert isinstance(config, command.schema)


def test_presets_set_what_they_say():
    truncate = next(c for c in CONFIGURED if c.name == "truncate")
    quick = _compose(truncate, ["experiment=quick"])
    assert (quick.sizes, quick.seeds, quick.epochs, quick.noise) == ([30, 100, 300], [0, 1, 2], 10, 0.4)
    train = next(c for c in CONFIGURED if c.name == "train")
    smoke = _compose(train, ["experiment=smoke"])
    assert (smoke.d_hidden, smoke.epochs, smoke.data.train_limit, smoke.quiet) == (32, 2, 2048, True)


def test_model_choices_are_one_registry():
    """model= options, accuracy's models= and ModelConfig agree (the MLPs are written once)."""
    accuracy = next(c for c in CONFIGURED if c.name == "accuracy")
    assert schema.choices(schema.hints(accuracy.schema)["models"]) == tuple(MLP_MODELS)
    assert set(MLP_MODELS) < set(hydra_app.group_options("model"))
    assert {m.name for m in MLP_MODELS.values()} <= set(schema.choices(schema.hints(ModelConfig)["name"]))
    from bilin.data import DATASETS

    assert (
        set(schema.choices(schema.hints(DataConfig)["name"])) == set(DATASETS) == set(hydra_app.group_options("data"))
    )
