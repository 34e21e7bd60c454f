"""`bilin diff` end to end on tiny data: two trained models of different sizes (one with biases) against the
library's own numbers, and its one-line refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bilin.analysis.model_diff import model_diff
from bilin.analysis.quadratic_moments import InputLaw
from bilin.data import load_dataset
from bilin.models.checkpoint import load_model, save_model
from bilin.models.networks import ModelSpec, build_model
from bilin.running.folder import RunDir
from tests.conftest import only_run_dir
from tests.redteam.harness import assert_one_line_error

pytestmark = pytest.mark.slow  # each test runs the CLI

SMOKE = ["experiment=smoke", "device=cpu"]


def test_diff_of_two_trained_models_writes_the_librarys_exact_numbers(bilin_cli, tmp_path, tiny_root):
    for folder, extra in (("a", ["seed=0"]), ("b", ["seed=1", "d_hidden=16", "model.bias=true"])):
        trained = bilin_cli("train", *SMOKE, *extra, f"hydra.run.dir={folder}")
        assert trained.returncode == 0, trained.stderr
    result = bilin_cli("diff", f"run={tmp_path / 'a'}", f"other={tmp_path / 'b'}", "components=3", "quiet=true")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "diff")
    rows = list(csv.DictReader((run / "diff.csv").open()))
    assert [(r["class"], r["law"]) for r in rows] == [
        (c, law) for law in ("gaussian", "data") for c in [*map(str, range(10)), "all"]
    ]
    data = load_dataset("mnist", tiny_root, download=False)
    laws = [InputLaw.standard(784), InputLaw.of_data(data.train_x.flatten(1).double() / 255)]
    expected = model_diff(load_model(tmp_path / "a"), load_model(tmp_path / "b"), laws, data.classes, 3)
    for row, want in zip(rows, expected.distance_rows(), strict=True):
        assert float(row["distance"]) == pytest.approx(want["distance"], rel=1e-9)
        assert float(row["share_k3"]) == pytest.approx(want["share_k3"], rel=1e-6, abs=1e-9)
    directions = load_file(str(run / "directions.safetensors"))
    assert directions["directions"].shape == (10, 3, 785)  # b has biases: both in [x; 1]
    torch.testing.assert_close(directions["directions"].norm(dim=-1), torch.ones(10, 3, dtype=torch.float64))
    assert (directions["eigenvalues"].abs().diff(dim=1) <= 0).all()
    spectrum = list(csv.DictReader((run / "diff_spectrum.csv").open()))
    assert len(spectrum) == 10 * (32 + 16 + 1)  # rank(M_A - M_B) <= d_A + (d_B + 1)
    for name in ("diff_directions", "diff_share"):
        assert (run / "figures" / f"{name}.html").is_file(), name
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["other_run"]["status"] == "complete"
    assert record["source_run"]["path"] == str(tmp_path / "a")


def saved(folder: Path, spec: ModelSpec, status: str = "complete") -> Path:
    """A run folder holding a freshly initialised model of `spec` (no training: the refusals read only its kind)."""
    save_model(RunDir(folder), build_model(spec), spec, {"dataset": "cifar10" if spec.input_shape[0] == 3 else "mnist"})
    (folder / "run.json").write_text(json.dumps({"status": status}))
    return folder


def bilinear(d: int = 8, shape: tuple[int, ...] = (1, 28, 28), gate: str | None = None) -> ModelSpec:
    inputs = torch.Size(shape).numel()
    return ModelSpec("bilinear", inputs, d, 10, gate=gate, input_shape=shape)


def test_diff_refuses_what_it_cannot_compare_in_one_line(bilin_cli, tmp_path):
    good = saved(tmp_path / "good", bilinear())
    relu = saved(tmp_path / "relu", ModelSpec("relu", 784, 8, 10))
    gated = saved(tmp_path / "gated", bilinear(gate="relu"))
    colour = saved(tmp_path / "colour", bilinear(shape=(3, 32, 32)))
    failed = saved(tmp_path / "failed", bilinear(), status="failed")
    five = saved(tmp_path / "five", ModelSpec("bilinear", 784, 8, 5))
    empty = tmp_path / "empty"  # a complete run of another command: no model
    empty.mkdir()
    (empty / "run.json").write_text(json.dumps({"status": "complete"}))
    cases = [
        ([f"run={tmp_path / 'missing'}", f"other={good}"], "does not exist"),
        ([f"run={good}", f"other={tmp_path / 'missing'}"], f"other={tmp_path / 'missing'}: does not exist"),
        ([f"run={good}"], "give other=<train run or cache folder>"),
        ([f"run={relu}", f"other={good}"], f"run={relu}: the eigendecomposition needs a bilinear model"),
        ([f"run={good}", f"other={gated}"], f"other={gated}: the eigendecomposition is only exact"),
        ([f"run={good}", f"other={colour}"], "run= reads 1x28x28 images, other= 3x32x32"),
        ([f"run={good}", f"other={failed}"], "is failed, not complete"),
        ([f"run={good}", f"other={five}"], "run= has 10 classes, other= 5"),
        ([f"run={empty}", f"other={good}"], f"run={empty}: {empty} is not a bilin run with a model"),
        ([f"run={good}", f"other={good}", f"data_root={tmp_path / 'nowhere'}", "download=false"], "(or data_root="),
        ([f"run={good}", f"other={good}", "components=0"], "components"),
        ([f"run={good}", f"other={good}", "components=785"], "D has only 784 directions"),
    ]
    for args, fragment in cases:
        assert_one_line_error(bilin_cli("diff", *args, "device=cpu", "quiet=true"), fragment)
