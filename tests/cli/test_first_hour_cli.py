"""A new user's first hour, end to end through the real `bilin`: the data is found without
BILIN_DATA, run.json says which data was used, long work talks when stderr is a log, and
training says what it will cost before it starts."""

from __future__ import annotations

import csv
import json

import pytest

from bilin.data import load_dataset
from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import TINY_ARGS, only_run_dir, run_bilin, write_dataset

pytestmark = pytest.mark.slow  # each test runs bilin in a subprocess


def test_typed_by_hand_finds_data_and_records_it(tmp_path):
    """No BILIN_DATA: ./data is found; run.json records its folder and the data's SHA-256."""
    write_dataset(tmp_path / "data", "MNIST")
    loud = [a for a in TINY_ARGS if a != "quiet=true"]
    result = run_bilin(["train", *loud], tmp_path, {"BILIN_DATA": ""})
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "train")
    record = json.loads((run / "run.json").read_text())
    expected = load_dataset("mnist", tmp_path / "data", download=False)
    assert record["data"] == {"mnist": {"root": str(tmp_path / "data"), "sha256": expected.fingerprint}}
    # stderr is a pipe, not a terminal: the plan, then one line per epoch (not a silent bar)
    # (a first guess from stored timings), the estimate again from the first training steps, timed
    lines = result.stderr.splitlines()
    assert lines[0].startswith("bilinear mnist d=16: training 1 model, 2 model-epochs on cpu, about ")
    assert lines[0].endswith(" s (a first guess from stored timings)")
    assert lines[1].startswith("bilinear mnist d=16: training 1 model, 2 model-epochs on cpu, about ")
    assert lines[1].endswith(" s (measured on the first 3 steps)")
    epochs = [line.split(":")[0] for line in lines[2:]]
    assert epochs == ["bilinear mnist d=16, epoch 1/2", "bilinear mnist d=16, epoch 2/2"]
    # per-class accuracies come from a float32 tensor: written without float64's noise digits
    for row in csv.DictReader((run / "per_class.csv").open()):
        assert len(row["val_acc"].replace(".", "").lstrip("0")) <= 9, row


def test_data_not_found_says_where_it_looked_and_leaves_nothing(tmp_path):
    missing = tmp_path / "nothing-here"
    result = run_bilin(["train", *TINY_ARGS, "data.download=false"], tmp_path, {"BILIN_DATA": str(missing)})
    assert_clean_failure(result, f"BILIN_DATA={missing}", tmp_path)
    assert "set BILIN_DATA=<folder holding MNIST/raw/>" in result.stderr
    assert not missing.exists()
    record = json.loads((only_run_dir(tmp_path / "outputs" / "train") / "run.json").read_text())
    assert record["status"] == "failed" and record["error"] in result.stderr  # the complete line, no more


def test_grid_commands_plan_record_and_report_cache_training(bilin_cli, tmp_path, tiny_root):
    grid = ["sizes=[8,12]", "seeds=[0,1]", "epochs=2", "batch_size=64", "device=cpu"]
    result = bilin_cli("truncate", *grid, "k_max=4")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("truncate: 4 models, 0 cached; training 4 models, 8 model-epochs on cpu, about ")
    assert lines[0].endswith(" (a first guess from stored timings)")
    # each group of models trained together: its estimate from its first steps, its epochs with the time left
    for d in (8, 12):
        measured = [line for line in lines if line.startswith(f"bilinear mnist d={d} x2: training 2 models")]
        assert len(measured) == 1 and measured[0].endswith(" (measured on the first 3 steps)"), lines
    assert any(line.startswith("bilinear mnist d=8 x2: epoch 1/2, about ") for line in lines), lines
    assert "bilinear mnist d=12 x2: epoch 2/2" in lines
    run = only_run_dir(tmp_path / "outputs" / "truncate")
    record = json.loads((run / "run.json").read_text())
    entry = json.loads((tmp_path / next(iter(record["models"].values())) / "recipe.json").read_text())
    assert record["data"]["mnist"] == {"root": str(tiny_root), "sha256": entry["data_sha256"]}
    assert "epoch 2/2" in (run / "truncate.log").read_text()

    again = bilin_cli("similarity", *grid, "reference_size=12", "ranks=3")
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[0] == "similarity: 4 models, 4 cached"  # cached models are not counted

    quiet = bilin_cli("similarity", *grid, "reference_size=12", "ranks=3", "quiet=true")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_featvis_and_probe_steps_report_on_a_log(bilin_cli):
    featvis = bilin_cli("featvis", "experiment=smoke", "quiet=false", "steps=20", "device=cpu")
    assert featvis.returncode == 0, featvis.stderr
    assert "featvis result: step 20/20" in featvis.stderr.splitlines()
    probe = bilin_cli("probe-csf", "experiment=smoke", "quiet=false", "device=cpu")
    assert probe.returncode == 0, probe.stderr
    steps = [line for line in probe.stderr.splitlines() if line.startswith("probe layer2: step")]
    assert steps[0] == "probe layer2: step 0/10" and steps[-1] == "probe layer2: step 10/10"
