"""Every command's `smoke` preset stays seconds-long: little enough work that its run is dominated by
starting Python (no timing here: the work itself is counted from the composed config)."""

from __future__ import annotations

import math

import pytest

from bilin.cli.hydra_app import group_options
from tests.test_schema import CONFIGURED, _compose

SMOKE = [c for c in CONFIGURED if "smoke" in group_options(f"experiment/{c.name}")]
GRID_KEYS = ("models", "datasets", "noises", "seeds", "sizes")  # a model per combination of these


def test_every_command_with_a_preset_group_has_a_smoke_preset():
    assert {c.name for c in SMOKE} == {c.name for c in CONFIGURED if group_options(f"experiment/{c.name}")}


@pytest.mark.parametrize("command", SMOKE, ids=lambda c: c.name)
def test_a_smoke_preset_is_a_few_small_models_briefly(command):
    cfg = _compose(command, ["experiment=smoke"])
    models = math.prod(len(getattr(cfg, k)) for k in GRID_KEYS if isinstance(getattr(cfg, k, None), list))
    assert models <= 4, models  # (a pretrained or random torchvision net counts as one)
    assert getattr(cfg, "epochs", 2) <= 2 and getattr(cfg, "d_hidden", 16) <= 32
    data = getattr(cfg, "data", None)
    if data is not None and getattr(cfg, "net", None) is None:  # trains on a subset of the data
        assert data.train_limit is not None and data.train_limit <= 2048
        assert data.test_limit is not None and data.test_limit <= 1000
    for steps in ("steps", "featvis_steps"):
        assert getattr(cfg, steps, 0) <= 16, steps
    assert getattr(cfg, "bootstrap", 0) <= 50 and len(getattr(cfg, "sfs", [])) <= 5
    assert cfg.quiet  # a smoke run reports only its result
