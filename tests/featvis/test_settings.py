"""featvis's settings are written once: the library's Settings and Tricks own every default, help and
range, `bilin featvis`'s schema inherits them, and the command hands its config itself to render."""

from dataclasses import fields
from types import SimpleNamespace
from typing import get_args

import torch

import bilin.featvis.render as render_module
from bilin.commands.featvis import FeatvisConfig, main
from bilin.featvis.bench import METHODS
from bilin.featvis.settings import PARAMS, SQUASH, Settings, Tricks
from bilin.settings.schema import hints, info


def test_the_command_takes_the_records_fields_themselves():
    """A default, help or range restated in the command's schema would be a field of its own here."""
    own = {f.name: f for f in fields(FeatvisConfig)}
    for record in (Settings, Tricks):
        for f in fields(record):
            assert own[f.name] is f, f"{f.name} is declared again in FeatvisConfig"
            assert info(f).help, f.name  # a key with its one line of help
    assert get_args(hints(FeatvisConfig)["param"]) == PARAMS and get_args(hints(FeatvisConfig)["squash"]) == SQUASH


def test_the_bench_methods_keep_their_tricks_whatever_the_commands_defaults():
    """The command's defaults switch decorrelation and redirected relus on; no bench method uses them."""
    expected = {  # robustness, param, diversity, l2, blur_every
        "pixel": (False, "pixel", 0.0, 0.0, 0),
        "+robustness": (True, "pixel", 0.0, 0.0, 0),
        "+fourier": (True, "fourier", 0.0, 0.0, 0),
        "+blur/l2": (True, "fourier", 0.0, 1.0, 4),
        "maco": (True, "maco", 0.0, 0.0, 0),
        "diversity": (True, "fourier", 1.0, 0.0, 0),
        "sphere": (False, "pixel", 0.0, 0.0, 0),
    }
    for name, (_, t) in METHODS.items():
        assert (t.robustness, t.param, t.diversity, t.l2, t.blur_every) == expected[name], name
        assert (t.decorrelate, t.redirect_relu_steps, t.squash) == (False, 0, "auto"), name


def test_featvis_hands_its_config_to_render(monkeypatch):
    """No copy of the settings between the command and the library: render gets cfg as both records."""
    seen = []
    real = render_module.render

    def spy(model, shape, targets, settings, tricks, *args, **kwargs):
        seen.append((settings, tricks))
        return real(model, shape, targets, settings, tricks, *args, **kwargs)

    monkeypatch.setattr(render_module, "render", spy)
    cfg = FeatvisConfig(net="tv:resnet18", weights="none", size=32, steps=2, target=["class:0"], quiet=True)
    ctx = SimpleNamespace(device=torch.device("cpu"), stop=SimpleNamespace(raise_if_set=lambda: None))
    result = main(cfg, ctx)
    assert len(seen) == 1 and seen[0][0] is cfg and seen[0][1] is cfg
    assert result.record["tricks"] == {f.name: getattr(cfg, f.name) for f in fields(Tricks)}
    assert set(result.tables) == {"curve.csv", "activations.csv"} and set(result.tensors) == {"inputs.safetensors"}
