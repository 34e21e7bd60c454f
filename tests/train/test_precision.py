"""precision=auto: bf16 where the hardware multiplies bf16 natively, fp32 elsewhere; resolved once per run."""

import json

import pytest
import torch

from bilin.device import resolve_precision
from tests.conftest import TINY_ARGS


def test_auto_follows_the_hardware_and_other_choices_pass_through():
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    for choice in ("fp32", "tf32", "bf16"):
        assert resolve_precision(choice, torch.device("cpu")) == choice
    assert resolve_precision("auto", torch.device("meta")) == "fp32"  # no native bf16 known: the exact choice


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "truncate"])
@pytest.mark.parametrize("requested", ["auto", "fp32", "bf16"])
def test_every_run_records_the_requested_and_the_resolved_precision(bilin_cli, tmp_path, command, requested):
    args = TINY_ARGS if command == "train" else ["experiment=smoke", "quiet=true", "device=cpu"]
    result = bilin_cli(command, *args, f"precision={requested}", "hydra.run.dir=run")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["precision_requested"] == requested
    assert record["precision"] == resolve_precision(requested, torch.device("cpu"))
