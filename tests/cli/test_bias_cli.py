"""model.bias=true end to end: trained, decomposed exactly, explored, adopted by the cache, and a resume
of the wrong model refused; where biases cannot be exact, one line."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from bilin.analysis.decompose import Eigen, eigen_logits
from bilin.analysis.truncate import truncated_logits
from bilin.data import load_dataset
from bilin.errors import UserError
from bilin.models.checkpoint import check_checkpoint, load_model, load_spec
from bilin.report.explorer import explorer_data, truncated_and_full
from tests.conftest import only_run_dir
from tests.redteam.harness import assert_one_line_error

pytestmark = pytest.mark.slow  # trains through the CLI

D = 32  # the train smoke preset's d_hidden


def test_a_biased_model_trains_decomposes_exactly_and_enters_the_cache(bilin_cli, tmp_path, tiny_root):
    trained = tmp_path / "trained"
    result = bilin_cli(
        "train", "experiment=smoke", "model.bias=true", "device=cpu", "quiet=true", "hydra.run.dir=trained"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((trained / "model.json").read_text())["bias"] is True
    assert json.loads((trained / "run.json").read_text())["recipe"]["bias"] is True

    result = bilin_cli("decompose", f"run={trained}", "explain=0", "input_space=true", "device=cpu", "quiet=true")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "decompose")
    saved = load_file(str(run / "eigen.safetensors"))
    assert saved["eigenvalues"].shape == (10, D + 1) and saved["eigenvectors"].shape == (10, D + 1, 785)
    data = load_dataset("mnist", str(tiny_root), download=False)
    x = data.test_x.flatten(1).float() / 255
    model = load_model(trained)
    with torch.no_grad():
        logits = model(x)
    eigen = Eigen(saved["eigenvalues"], saved["eigenvectors"], constant=True)
    torch.testing.assert_close(eigen_logits(eigen, x), logits, rtol=1e-4, atol=1e-4)  # float32 (see test_biases)
    torch.testing.assert_close(truncated_logits(eigen, x, D + 1), logits, rtol=1e-4, atol=1e-4)
    assert "constant" in next(csv.DictReader((run / "spectrum.csv").open()))
    assert (run / "figures" / "fig2_top_eigenvectors.html").is_file()

    page = explorer_data(trained, data.test_x, data.test_y)
    for i in range(5):  # the page's numbers are float16
        torch.testing.assert_close(truncated_and_full(page, x[i])[1], logits[i].double(), rtol=1e-3, atol=1e-3)

    with pytest.raises(UserError, match="bias=True"):  # resume= with a config that lost the biases
        check_checkpoint(trained, replace(load_spec(trained), bias=False), "mnist")

    result = bilin_cli("cache", "add", str(trained), "--root", "cache")
    assert result.returncode == 0, result.stderr
    (entry,) = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert "-bias-" in entry.name and json.loads((entry / "recipe.json").read_text())["bias"] is True
    assert bilin_cli("cache", "verify", "--root", "cache").returncode == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("train", "model=relu", "model.bias=true"), "model=relu does not take it"),
        (("featvis-bench", "experiment=smoke", "model.bias=true"), "use model.bias=false"),
    ],
)
def test_where_biases_do_not_apply_one_line(bilin_cli, args, fragment):
    assert_one_line_error(bilin_cli(*args, "device=cpu"), fragment)
