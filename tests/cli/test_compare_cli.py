"""`bilin compare` end to end on tiny data: every pair's numbers against the formulas written out from the
saved weights, and every user mistake a single line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import only_run_dir

pytestmark = pytest.mark.slow  # each test runs the CLI

RECIPE = ["epochs=2", "batch_size=64", "lr=1e-2", "quiet=true", "device=cpu"]
GRID = ["sizes=[8,12]", "seeds=[0]", "noises=[0,0.5]"]


def centred_gaussian_similarity(folder_a: Path, folder_b: Path) -> float:
    """Under x ~ N(0, I): Cov(x^T A x, x^T B x) = 2 Tr(AB), with M_c = E^T sym(L^T diag(U_c) R) E; summed over
    classes and normalised by the two variances."""
    forms = []
    for folder in (folder_a, folder_b):
        w = {k: v.double() for k, v in load_file(str(folder / "model.safetensors")).items()}
        E, (L, R), U = w["embed.weight"], w["bilinear.weight"].chunk(2), w["head.weight"]
        B = torch.einsum("co,oi,oj->cij", U, L, R)
        forms.append(E.T @ ((B + B.mT) / 2) @ E)
    a, b = forms
    cov = lambda x, y: 2 * torch.einsum("cij,cji->", x, y)  # noqa: E731
    return float(cov(a, b) / (cov(a, a) * cov(b, b)).sqrt())


def test_compare_writes_every_pair_and_its_numbers_are_the_formulas(bilin_cli, tmp_path):
    result = bilin_cli("compare", *GRID, "samples=50", *RECIPE)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "compare")
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["cka_samples"] == 50
    folders = {}
    for path in record["models"].values():
        recipe = json.loads((tmp_path / path / "recipe.json").read_text())
        folders[(recipe["noise"], recipe["d_hidden"], recipe["seed"])] = tmp_path / path
    rows = list(csv.DictReader((run / "compare_pairs.csv").open()))
    assert len(rows) == 4 * 5 // 2
    for row in rows:
        a = (float(row["noise_a"]), int(row["size_a"]), int(row["seed_a"]))
        b = (float(row["noise_b"]), int(row["size_b"]), int(row["seed_b"]))
        expected = centred_gaussian_similarity(folders[a], folders[b])
        assert float(row["exact_gaussian_centred"]) == pytest.approx(expected, rel=1e-6), (a, b)  # Q_c in fp32
        assert (row["weight_cosine"] == "") == (a[1] != b[1])
        if a == b:
            assert all(float(row[m]) == pytest.approx(1) for m in ("exact_data", "eigen", "cka", "weight_cosine"))
    agreement = list(csv.DictReader((run / "rank_agreement.csv").open()))
    assert len(agreement) == 21 and all(int(r["pairs"]) == 6 for r in agreement if "weight" not in r["method_b"])
    assert len(list(csv.DictReader((run / "compare_per_class.csv").open()))) == len(rows) * 10
    heat = json.loads((run / "figures" / "compare_exact_data.json").read_text())["data"][0]
    by_label = {f"n={float(r['noise_a']):g} d={r['size_a']} s={r['seed_a']}": r for r in rows if r["differs"] == "same"}
    assert heat["x"] == list(by_label)  # ordered by noise, size, seed
    assert (run / "figures" / "compare_scatter.html").is_file()

    again = bilin_cli("compare", *GRID, "samples=50", *RECIPE)  # every model from the cache now
    assert again.returncode == 0, again.stderr
    runs = sorted((tmp_path / "outputs" / "compare").glob("*/*"))
    assert json.loads((runs[-1] / "run.json").read_text())["cache_hits"] == 4


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["model=relu", *GRID], "ungated bilinear"),
        (["model=bilinear_silu", *GRID], "ungated bilinear"),
        (["sizes=[8]", "seeds=[0]", "noises=[]"], "noises is empty"),
        (["sizes=[8]", "seeds=[0]", "noises=[0]"], "the grid is one model"),
        (["sizes=[]"], "grid is empty"),
        (["data=cifar10", *GRID], "use data=mnist or data=fmnist"),
        ([*GRID, "noise=0.3"], "give noises=[0.3]"),
        ([*GRID[:2], "noises=[0,-1]"], "noises=[0.0,-1.0] must all be >= 0"),
        ([*GRID[:2], "noises=[0.5,0.5]"], "gives 0.5 twice"),
        ([*GRID, "samples=1"], "samples=1 must be >= 2"),
        ([*GRID, "reference_size=8"], "Key 'reference_size' not in 'CompareConfig'"),
    ],
)
def test_compare_mistakes_are_one_line_before_anything_runs(bilin_cli, tmp_path, args, fragment):
    result = bilin_cli("compare", *args, *RECIPE)
    assert_clean_failure(result, fragment, tmp_path)
    assert not (tmp_path / "outputs").exists()
