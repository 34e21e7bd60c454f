"""`bilin augment-grid` end to end on tiny data, and its mistakes in one line before anything runs."""

import csv
import json

import pytest
from safetensors.torch import load_file

from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import only_run_dir

MISTAKES = [
    (["rows=sharpen"], "rows='sharpen' is not one of ('noise', 'rotate', 'translate', 'blur', 'salt_pepper')"),
    (["cols=noise"], "rows and cols are both noise: the grid's axes must be two different augmentations"),
    (["col_values=[0,nan]"], "col_values=[0.0,nan] must all be finite numbers"),
    (["col_values=[-1]"], "blur=-1 is outside its range [0, 5]"),
    (["cols=rotate", "col_values=[0,200]"], "rotate=200 is outside its range [0, 180]"),
    (["rows=salt_pepper", "row_values=[0.5,2]"], "salt_pepper=2 is outside its range [0, 1]"),
    (["row_values=[]"], "the noise axis has no values: give at least one strength"),
    (["seeds=[]"], "seeds must name at least one seed"),
    (["data=cifar10"], "augment-grid reads 28 x 28 grey images: data=mnist or data=fmnist, not cifar10"),
    (["model=relu"], "the eigendecomposition is only exact for the ungated bilinear model"),
]


@pytest.mark.parametrize("args,fragment", MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_bad_axis_or_strength_is_one_line_before_anything_runs(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("augment-grid", *args), fragment, tmp_path)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_a_grid_of_rotation_and_salt_and_pepper_end_to_end(bilin_cli, tmp_path):
    args = ["rows=rotate", "row_values=[0,30]", "cols=salt_pepper", "col_values=[0,0.1]", "seeds=[0,1]"]
    recipe = ["d_hidden=8", "epochs=1", "batch_size=128", "quiet=true", "device=cpu", "target_class=3"]
    result = bilin_cli("augment-grid", *args, *recipe)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "augment-grid")
    rows = list(csv.DictReader((run / "augment_grid.csv").open()))
    assert [(r["rotate"], r["salt_pepper"], r["seed"]) for r in rows[:3]] == [
        ("0.0", "0.0", "0"),
        ("0.0", "0.0", "1"),
        ("0.0", "0.1", "0"),
    ]
    assert len(rows) == 8 and all(1 <= float(r["effective_rank"]) <= 8 for r in rows)
    bands = list(csv.DictReader((run / "augment_grid_bands.csv").open()))
    assert {b["measure"] for b in bands} >= {"val_acc", "effective_rank", "centroid_top_eigenvector"}
    assert load_file(str(run / "augment_grid.safetensors"))["images"].shape == (2, 2, 28, 28)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["cache_hits"] == 0 and len(record["models"]) == 8
    names = sorted(p.name for p in (tmp_path / "outputs" / "cache").iterdir() if p.is_dir())
    assert any("-rotate30-saltpepper0.1-s1-" in n for n in names) and any("-n0.4-s0-" not in n for n in names)
    again = bilin_cli("augment-grid", *args, *recipe)  # every model now from the cache
    assert again.returncode == 0, again.stderr
