"""Every user mistake: one line on stderr, exit code 2, no traceback, no run claiming completion."""

import json

import numpy as np
import pytest

from bilin.data.idx import write_idx
from tests.conftest import TINY_ARGS, write_dataset


def assert_clean_failure(result, fragment: str, cwd) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bilin: error:") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    for record in (cwd / "outputs").rglob("run.json"):
        assert json.loads(record.read_text())["status"] != "complete"


@pytest.mark.parametrize("override,fragment", [
    ("data=foo", "available: cifar10, fmnist, mnist"),
    ("model=transformer", "config group 'model'"),
    ("foo=1", "Key 'foo' not in"),
    ("seed=abc", "'abc'"),
    ("noise=-0.1", "noise=-0.1 must be >= 0"),
    ("d_hidden=0", "d_hidden=0 must be >= 1"),
    ("epochs=0", "epochs=0 must be >= 1"),
    ("batch_size=0", "batch_size=0 must be >= 1"),
    ("lr=0", "lr=0.0 must be > 0"),
    ("lr=-1", "must be > 0"),
    ("precision=fp8", "precision='fp8'"),
    ("precision=tf32", "CUDA matmul mode"),
    ("device=tpu", "device='tpu'"),
    ("device=cuda", "no CUDA device"),
    ("outputs_root=/dev/null/sub", "cannot write the output directory"),
    ("batch_size=100000", "larger than the 640 training images"),
])
def test_bad_overrides(bilin_cli, tmp_path, override, fragment):
    result = bilin_cli("train", *TINY_ARGS, override)
    assert_clean_failure(result, fragment, tmp_path)


def test_unknown_flag(bilin_cli, tmp_path):
    assert_clean_failure(bilin_cli("train", "--bogus"), "unrecognized arguments: --bogus", tmp_path)


def test_bad_value_inside_a_sweep_is_caught_before_any_job(bilin_cli, tmp_path):
    result = bilin_cli("train", "-m", *TINY_ARGS, "seed=0,abc")
    assert_clean_failure(result, "'abc'", tmp_path)
    assert not (tmp_path / "outputs").exists()


def test_missing_dataset_files(bilin_cli, tmp_path):
    result = bilin_cli("train", *TINY_ARGS, f"data.root={tmp_path / 'empty'}", "data.download=false")
    assert_clean_failure(result, "train-images-idx3-ubyte", tmp_path)


@pytest.mark.parametrize("damage,fragment", [
    (lambda p: p.write_bytes(b"\x00\x00\x0d\x03" + p.read_bytes()[4:]), "bad magic"),
    (lambda p: p.write_bytes(p.read_bytes()[:-100]), "wrong size"),
])
def test_corrupt_idx_file(bilin_cli, tmp_path, damage, fragment):
    raw = write_dataset(tmp_path / "bad", "MNIST", gz=False)
    damage(raw / "train-images-idx3-ubyte")
    result = bilin_cli("train", *TINY_ARGS, f"data.root={tmp_path / 'bad'}")
    assert_clean_failure(result, fragment, tmp_path)


def test_mismatched_image_and_label_counts(bilin_cli, tmp_path):
    raw = write_dataset(tmp_path / "bad", "MNIST", gz=False)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(10, dtype=np.uint8))
    result = bilin_cli("train", *TINY_ARGS, f"data.root={tmp_path / 'bad'}")
    assert_clean_failure(result, "do not match", tmp_path)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(bilin_cli, tmp_path):
    from safetensors.torch import load_file

    result = bilin_cli("train", *TINY_ARGS, "epochs=5", "lr=1e12", "wd=0", "noise=0", "hydra.run.dir=run")
    assert_clean_failure(result, "NaN", tmp_path)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "failed" and "NaN" in record["error"]
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(v.isfinite().all() for v in weights.values())
