"""`bilin train init=<run> train_classes=[...]`: a fine-tune starts from another model's weights and
trains on a subset of classes; it is never adopted as a cache entry, and its mistakes are one line."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from bilin.data import load_dataset
from bilin.models.checkpoint import load_spec
from bilin.models.networks import build_model
from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import TINY_ARGS

pytestmark = pytest.mark.slow  # trains through the CLI


def test_a_fine_tune_starts_from_the_weights_and_trains_on_the_classes(bilin_cli, tmp_path, tiny_root):
    assert bilin_cli("train", *TINY_ARGS, "hydra.run.dir=base").returncode == 0
    # a learning rate of 1e-12 leaves the start as it was: the weights must be base's, not the seed's init
    result = bilin_cli(
        "train", *TINY_ARGS, "init=base", "train_classes=[0,1]", "lr=1e-12", "seed=5", "hydra.run.dir=ft"
    )
    assert result.returncode == 0, result.stderr
    base, tuned = (load_file(str(tmp_path / f / "model.safetensors")) for f in ("base", "ft"))
    assert all(torch.allclose(base[k], tuned[k], atol=1e-6) for k in base)
    seed_init = build_model(load_spec(tmp_path / "ft"), torch.Generator().manual_seed(5)).state_dict()
    assert not all(torch.allclose(seed_init[k], tuned[k], atol=1e-3) for k in base)
    record = json.loads((tmp_path / "ft" / "run.json").read_text())
    labels = load_dataset("mnist", str(tiny_root), download=False).train_y
    assert record["init"] == str(tmp_path / "base") and record["train_classes"] == [0, 1]
    assert record["train_images"] == int((labels < 2).sum())
    refused = bilin_cli("cache", "add", "ft", "--root", "cache")
    assert_clean_failure(
        refused, "was trained with init= and train_classes=: its weights are not its recipe's", tmp_path
    )
    other = bilin_cli("train", *TINY_ARGS, "init=base", "d_hidden=12")  # another model's weights
    assert other.returncode == 2 and "init=base holds another model: d_hidden=" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["init=nope"], "init=nope: does not exist"),
        (["train_classes=[10]"], "train_classes=[10] must name at least one class of mnist: 0..9"),
        (["train_classes=[]"], "train_classes=[] must name at least one class of mnist: 0..9"),
    ],
)
def test_fine_tune_mistakes_are_one_line(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("train", *TINY_ARGS, *args), fragment, tmp_path)
