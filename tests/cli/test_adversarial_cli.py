"""`bilin adversarial` through the CLI: its mistakes end in one line before anything runs, and a tiny run
end to end writes the CSVs, the masks and the figures."""

import csv
import json

import pytest
from safetensors.torch import load_file

from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import only_run_dir

MISTAKES = [
    (["model=relu"], "only exact for the ungated bilinear model, not relu"),
    (["model=bilinear_relu"], "not bilinear with gate=relu"),
    (["model.bias=true"], "which biases turn into a form in [x; 1]"),
    (["alphas=[0,-1]"], "alphas=[0.0,-1.0] must all be >= 0"),
    (["alphas=[0,nan]"], "must all be finite numbers"),
    (["alphas=[inf]"], "must all be finite numbers"),
    (["alphas=[]"], "alphas, datasets and seeds must each name at least one value"),
    (["target=10"], "target=10 is not a class"),
    (["target=-1"], "target=-1 is not a class"),
    (["target=shirt"], "could not be converted to Integer"),
    (["d_hidden=8", "components=9"], "components=9 is beyond d_hidden=8"),
]


@pytest.mark.parametrize("args,fragment", MISTAKES, ids=lambda x: " ".join(x) if isinstance(x, list) else None)
def test_mistakes_stop_in_one_line_before_anything_runs(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("adversarial", *args), fragment, tmp_path)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_a_tiny_targeted_run_end_to_end(bilin_cli, tmp_path):
    args = ["experiment=smoke", "alphas=[0,1.5,3]", "seeds=[0,1]", "target=3", "device=cpu"]
    result = bilin_cli("adversarial", *args)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "adversarial")
    rows = list(csv.DictReader((run / "adversarial.csv").open()))
    methods = {"eigen", "random", "random_eigenvector", "mean_difference", "fgsm", "pgd"}
    assert {r["method"] for r in rows} == methods and {r["target"] for r in rows} == {"3"}
    assert "3" not in {r["source"] for r in rows}  # the target's own images are not attacked
    for r in rows:  # every method changes each image by the same L2 norm alpha (no clamp)
        assert float(r["norm"]) == pytest.approx(float(r["alpha"]), rel=1e-4, abs=1e-6)
    clean = {r["accuracy"] for r in rows if r["alpha"] == "0.0" and r["source"] == "all" and r["seed"] == "0"}
    assert len(clean) == 1  # alpha 0: every method leaves the images as they are
    bands = list(csv.DictReader((run / "adversarial_bands.csv").open()))
    for band in bands[:12]:
        seeds = [
            float(r[band["measure"]])
            for r in rows
            if (r["method"], r["source"], r["alpha"]) == (band["method"], band["source"], band["alpha"])
        ]
        assert len(seeds) == 2 and float(band["mean"]) == pytest.approx(sum(seeds) / 2, abs=1e-6)
    masks = load_file(str(run / "masks.safetensors"))
    assert set(masks) == {f"mnist.{m}" for m in ("eigen", "random", "random_eigenvector", "mean_difference")}
    assert masks["mnist.eigen"].shape == (2, 10, 784)
    for name in ("adversarial_vs_alpha", "adversarial_masks"):
        assert (run / "figures" / f"{name}.html").is_file(), name
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
