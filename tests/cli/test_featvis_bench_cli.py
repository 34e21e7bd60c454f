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
from bilin.featvis.bench import METHODS, REFERENCE
from bilin.models.checkpoint import load_model
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
    result = bilin_cli("featvis-bench", *ARGS)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "featvis-bench")
    run_log = (run / "featvis-bench.log").read_text().splitlines()
    for stage in (
        "scoring bilinear mnist d=8 seed=1",
        "box optimum for mnist d=8 seed=0: 64 random",
        "summaries",
        "figures",
    ):  # after training, a line per stage: one unwrapped line each on stderr and in the run's log
        assert any(stage in line for line in result.stderr.splitlines()), stage
        assert any(stage in line for line in run_log), stage
    rows = list(csv.DictReader((run / "bench.csv").open()))
    bilinear = [r for r in rows if r["model"] == "bilinear"]
    relu = [r for r in rows if r["model"] == "relu"]
    assert len(bilinear) == len(METHODS) * 2 * 10 and len(relu) == (len(METHODS) - 1) * 2 * 10
    assert all(r["fraction"] == "" and r["box_share"] == "" for r in relu)  # no ground truth for relu MLPs
    assert all(r["box_share"] == "" for r in bilinear if r["method"] == REFERENCE)  # outside the box
    images = load_file(run / "bench_images.safetensors")
    models = json.loads((run / "run.json").read_text())["models"]
    for row in bilinear[:: len(bilinear) // 7]:
        folder = next(p for n, p in models.items() if n.startswith(f"bilinear-mnist-d8-n0.5-s{row['seed']}-"))
        model = load_model(tmp_path / folder).double()
        c = int(row["class"])
        x = images[f"bilinear/mnist/d8/seed{row['seed']}/{row['method']}"][c].double()
        box = images[f"box/mnist/d8/seed{row['seed']}"][c].double()
        best = Optimum.from_eigen(input_space_eigendecompose(model)).best[c]
        with torch.no_grad():
            logit, box_logit = model(torch.stack([x, box]))[:, c]
        assert float(row["fraction"]) == pytest.approx(float(logit / (x.square().sum() * best)), abs=1e-5)
        assert float(row["norm"]) == pytest.approx(float(x.norm()), rel=1e-5)
        assert 0 <= float(row["cos"]) <= 1 + 1e-6 and 1 <= int(row["steps_to_95"]) <= 12
        assert box.min() >= 0 and box.max() <= 1
        if row["method"] != REFERENCE:
            assert float(row["box_share"]) == pytest.approx(float(logit / box_logit), abs=1e-4)
            assert float(row["at_bounds"]) == pytest.approx(float(((x <= 0) | (x >= 1)).double().mean()), abs=1e-6)
    assert all(float(r["box_share"]) <= 1 + 1e-5 for r in bilinear if r["box_share"])  # the reference is the best
    assert all(float(r["spectral_error"]) >= 0 for r in rows if r["method"] != REFERENCE)
    assert all(r["spectral_error"] == r["at_bounds"] == "" for r in rows if r["method"] == REFERENCE)
    summary = list(csv.DictReader((run / "bench_summary.csv").open()))
    pixel = [r for r in bilinear if r["method"] == "pixel"]
    row = next(r for r in summary if (r["model"], r["method"], r["score"]) == ("bilinear", "pixel", "fraction"))
    assert float(row["mean"]) == pytest.approx(sum(float(r["fraction"]) for r in pixel) / len(pixel))
    assert (int(row["models"]), int(row["images"])) == (2, 20)
    per_seed = [sum(float(r["fraction"]) for r in pixel if r["seed"] == s) / 10 for s in ("0", "1")]
    assert float(row["low"]) <= min(per_seed) <= max(per_seed) <= float(row["high"])  # an interval over 2 models
    versus = list(csv.DictReader((run / "bench_vs_pixel.csv").open()))
    maco = next(r for r in versus if (r["model"], r["method"], r["score"]) == ("bilinear", "maco", "box_share"))
    cells = {(r["method"], r["seed"], r["class"]): float(r["box_share"]) for r in bilinear if r["box_share"]}
    diffs = [cells[("maco", s, c)] - cells[("pixel", s, c)] for (m, s, c) in cells if m == "maco"]
    assert float(maco["mean_difference"]) == pytest.approx(sum(diffs) / 20) and int(maco["pairs"]) == 20
    assert float(maco["low"]) <= float(maco["mean_difference"]) <= float(maco["high"])
    assert 0 < float(maco["wilcoxon_p"]) <= 1 and maco["models_same_sign"].endswith("/2")
    assert not any(r["method"] == "pixel" for r in versus)
    assert not any(r["method"] == REFERENCE and r["score"] == "box_share" for r in versus)
    ranking = list(csv.DictReader((run / "ranking.csv").open()))
    assert [r["compared"] for r in ranking] == [
        "bilinear proxy vs bilinear fraction",
        "relu proxy vs bilinear fraction",
        "bilinear proxy vs bilinear box_share",
        "relu proxy vs bilinear box_share",
    ]
    for r in ranking:
        assert REFERENCE not in r["ranked"].split() and int(r["methods"]) == len(METHODS) - 1
        assert 0 < float(r["p_permutation"]) <= 1 and (r["readable"] == "True") == (r["note"] == "")
    assert {p.name for p in (run / "figures").glob("*.json")} == {"bench_scores.json", "bench_images_mnist.json"}
    assert "box optimum" in (run / "figures" / "bench_images_mnist.json").read_text()  # a row beside the methods
    figure = json.loads((run / "figures" / "bench_scores.json").read_text())
    plotted = list(csv.DictReader((run / "bench_scores.csv").open()))
    assert {r["score"] for r in plotted} >= {"cos", "fraction", "top5_energy", "box_share", "steps_to_95"}
    for trace in figure["data"]:
        axis = "yaxis" + trace.get("yaxis", "y")[1:]
        tops = [y + e for y, e in zip(trace["y"], trace["error_y"]["array"], strict=True)]
        assert max(tops) * 1.1 <= figure["layout"][axis]["range"][1]  # no bar or error bar touches the frame
        bottoms = [y - e for y, e in zip(trace["y"], trace["error_y"]["arrayminus"], strict=True)]
        assert figure["layout"][axis]["range"][0] <= min(0.0, 1.1 * min(bottoms))
    shares = [t for t in figure["data"] if t.get("yaxis") == "y4"]  # the fourth panel: box share
    assert "box" in figure["layout"]["annotations"][3]["text"] and REFERENCE not in shares[0]["x"]
    csv_shares = {r["method"]: float(r["mean"]) for r in plotted if r["score"] == "box_share"}
    assert shares[0]["y"] == pytest.approx([csv_shares[m] for m in shares[0]["x"]])
