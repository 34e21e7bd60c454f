"""`bilin featvis-bench` end to end on tiny data: every row's scores recomputed from the saved
images and the cached model's weights."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from bilin.analysis.decompose import input_space_eigendecompose
from bilin.analysis.featvis_scores import Optimum
from bilin.checkpoint import load_model
from bilin.featvis.bench import METHODS
from tests.conftest import only_run_dir

pytestmark = pytest.mark.slow
ARGS = [
    "sizes=[8]",
    "seeds=[0,1]",
    "epochs=1",
    "batch_size=64",
    "steps=12",
    "datasets=[mnist]",
    "transforms=4",
    "device=cpu",
]


def test_bench_scores_every_method_and_recomputes_from_the_weights(bilin_cli, tmp_path):
    result = bilin_cli("featvis-bench", *ARGS, "quiet=true")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "featvis-bench")
    rows = list(csv.DictReader((run / "bench.csv").open()))
    bilinear = [r for r in rows if r["model"] == "bilinear"]
    relu = [r for r in rows if r["model"] == "relu"]
    assert len(bilinear) == len(METHODS) * 2 * 10 and len(relu) == (len(METHODS) - 1) * 2 * 10
    assert all(r["fraction"] == "" for r in relu)  # no ground truth for relu MLPs
    images = load_file(run / "bench_images.safetensors")
    models = json.loads((run / "run.json").read_text())["models"]
    for row in bilinear[:: len(bilinear) // 7]:
        folder = next(p for n, p in models.items() if n.startswith(f"bilinear-mnist-d8-n0.5-s{row['seed']}-"))
        model = load_model(tmp_path / folder).double()
        x = images[f"bilinear/mnist/d8/seed{row['seed']}/{row['method']}"][int(row["class"])].double()
        best = Optimum.from_eigen(input_space_eigendecompose(model)).best[int(row["class"])]
        with torch.no_grad():
            logit = model(x[None])[0, int(row["class"])]
        assert float(row["fraction"]) == pytest.approx(float(logit / (x.square().sum() * best)), abs=1e-5)
        assert float(row["norm"]) == pytest.approx(float(x.norm()), rel=1e-5)
        assert 0 <= float(row["cos"]) <= 1 + 1e-6 and 1 <= int(row["steps_to_95"]) <= 12
    summary = list(csv.DictReader((run / "bench_summary.csv").open()))
    pixel = [float(r["fraction"]) for r in bilinear if r["method"] == "pixel"]
    row = next(r for r in summary if (r["model"], r["method"], r["score"]) == ("bilinear", "pixel", "fraction"))
    assert float(row["mean"]) == pytest.approx(sum(pixel) / len(pixel)) and int(row["samples"]) == 20
    assert float(row["low"]) <= float(row["mean"]) <= float(row["high"])
    ranking = list(csv.DictReader((run / "ranking.csv").open()))
    assert [r["compared"] for r in ranking] == [
        "bilinear proxy vs bilinear ground truth",
        "relu proxy vs bilinear ground truth",
    ]
    assert {p.name for p in (run / "figures").glob("*.json")} == {"bench_scores.json", "bench_images_mnist.json"}
