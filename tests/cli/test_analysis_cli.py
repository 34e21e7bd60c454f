"""decompose / truncate / similarity / noise-sweep / accuracy end to end on tiny data."""

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bilin.data import load_dataset
from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import TINY_ARGS, only_run_dir
from tests.redteam.harness import assert_one_line_error

pytestmark = pytest.mark.slow  # each test trains or renders through the CLI

RECIPE = ["epochs=2", "batch_size=64", "lr=1e-2", "quiet=true", "device=cpu"]


def assert_signed_by_class(vectors: torch.Tensor, root: Path, dataset: str = "mnist") -> None:
    """vectors (classes, k, inputs): each class's test images project positively on average."""
    ds = load_dataset(dataset, root, download=False)
    x, y = ds.test_x.flatten(1).float() / 255, ds.test_y.long()
    means = torch.stack([x[y == c].mean(0) for c in range(vectors.shape[0])])
    assert (torch.einsum("cki,ci->ck", vectors, means) > 0).all()


def test_decompose_a_train_run_with_explanation(bilin_cli, tmp_path, tiny_root):
    assert bilin_cli("train", *TINY_ARGS, "hydra.run.dir=trained").returncode == 0
    result = bilin_cli("decompose", f"run={tmp_path / 'trained'}", "explain=3", "input_space=true", "quiet=true")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "decompose")
    eigen = load_file(str(run / "eigen.safetensors"))
    assert eigen["eigenvalues"].shape == (10, 16) and eigen["eigenvectors"].shape == (10, 16, 784)
    assert (eigen["eigenvalues"].diff(dim=1) >= 0).all()
    assert_signed_by_class(eigen["eigenvectors"], tiny_root)
    assert_signed_by_class(load_file(str(run / "eigen_input_space.safetensors"))["eigenvectors"], tiny_root)
    assert len(list(csv.DictReader((run / "spectrum.csv").open()))) == 160
    frequency = list(csv.DictReader((run / "frequency.csv").open()))
    assert len(frequency) == 10 * (16 + 1)  # every component and M_c, per class
    for row in frequency[:17]:  # class 0, recomputed here with numpy from the saved eigenvectors
        if row["rank"] != "M_c":
            k = int(abs(eigen["eigenvalues"][0]).argsort(descending=True)[int(row["rank"])])
            assert float(row["centroid"]) == pytest.approx(numpy_centroid(eigen["eigenvectors"][0, k]), rel=1e-6)
    for name in (
        "frequency",
        "fig2_top_eigenvectors",
        "fig3_spectrum_class0",
        "fig3_spectrum_class9",
        "explain",
        "fig2_top_eigenvectors_input_space",
    ):
        assert (run / "figures" / f"{name}.html").is_file(), name
    assert json.loads((run / "run.json").read_text())["status"] == "complete"


def numpy_centroid(vector: torch.Tensor) -> float:
    """Spectral centroid in cycles/image: FFT power in rings of rounded radius (the mean, ring 0, left
    out), written out in numpy."""
    import numpy as np

    image = vector.double().numpy().reshape(28, 28)
    power = np.abs(np.fft.fft2(image)) ** 2
    f = np.fft.fftfreq(28) * 28
    ring = np.rint(np.hypot(*np.meshgrid(f, f)))
    return float((ring * power).sum() / power[ring > 0].sum())


def test_the_panel_of_a_train_run_trains_the_other_model_with_the_runs_own_settings(bilin_cli, tmp_path):
    """Not the command's defaults (d=512, 100 epochs: half an hour); a folder that records no settings is refused."""
    trained = bilin_cli("train", *TINY_ARGS, "data=mnist", "seed=7", "hydra.run.dir=source")
    assert trained.returncode == 0, trained.stderr
    result = bilin_cli("decompose", f"run={tmp_path / 'source'}", "panel=true", "quiet=true", "device=cpu")
    assert result.returncode == 0, result.stderr
    (entry,) = [p for p in (tmp_path / "outputs" / "cache").glob("bilinear-fmnist-*") if p.is_dir()]
    recipe = json.loads((entry / "recipe.json").read_text())
    assert (recipe["d_hidden"], recipe["epochs"], recipe["seed"], recipe["batch_size"]) == (16, 2, 7, 64)
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("model.json", "model.safetensors", "checksums.json", "run.json"):
        (bare / name).write_bytes((tmp_path / "source" / name).read_bytes())
    refused = bilin_cli("decompose", f"run={bare}", "panel=true", "quiet=true", "device=cpu")
    assert_one_line_error(refused, "panel=true trains the other dataset's model with the run's own settings")


def test_decompose_from_cache_and_panel(bilin_cli, tmp_path, tiny_root):
    result = bilin_cli("decompose", "d_hidden=8", "panel=true", *RECIPE)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "decompose")
    record = json.loads((run / "run.json").read_text())
    assert len(record["models"]) == 2 and record["cache_hits"] == 0
    assert (run / "figures" / "fig2_panel.html").is_file()
    panel = load_file(str(run / "panel.safetensors"))
    for dataset in ("mnist", "fmnist"):
        assert_signed_by_class(panel[dataset][:, None], tiny_root, dataset)
    again = bilin_cli("decompose", "d_hidden=8", *RECIPE)
    assert again.returncode == 0, again.stderr
    runs = sorted((tmp_path / "outputs" / "decompose").glob("*/*"))
    assert json.loads((runs[-1] / "run.json").read_text())["cache_hits"] == 1


def test_truncate_and_similarity_share_the_cache(bilin_cli, tmp_path):
    grid = ["sizes=[8,12]", "seeds=[0,1]", *RECIPE]
    result = bilin_cli("truncate", *grid, "k_max=8")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "truncate")
    rows = list(csv.DictReader((run / "truncation.csv").open()))
    assert len(rows) == 2 * 2 * 9
    assert all(float(r["accuracy"]) < 0.3 for r in rows if r["k"] == "0")  # chance-ish with no components
    for name in ("truncation_error", "truncation_drop"):
        assert (run / "figures" / f"{name}.html").is_file()
    # every plotted mean is in truncation_bands.csv, and it is the seeds' mean of truncation.csv
    bands = list(csv.DictReader((run / "truncation_bands.csv").open()))
    plotted = json.loads((run / "figures" / "truncation_error.json").read_text())["data"]
    line = next(trace for trace in plotted if trace.get("name") == "d=12")
    error = [float(r["mean"]) for r in bands if r["curve"] == "error" and r["size"] == "12"]
    assert line["y"] == pytest.approx(error)
    by_seed = [1 - float(r["accuracy"]) for r in rows if r["size"] == "12" and r["k"] == "3"]
    assert error[3] == pytest.approx(sum(by_seed) / len(by_seed))

    sim = bilin_cli("similarity", *grid, "reference_size=12", "ranks=5", "order=bottom")
    assert sim.returncode == 0, sim.stderr
    run = only_run_dir(tmp_path / "outputs" / "similarity")
    record = json.loads((run / "run.json").read_text())
    assert record["cache_hits"] == 4 and record["order"] == "bottom"
    heat = {
        (int(r["size_a"]), int(r["size_b"])): float(r["mean_abs_cos"])
        for r in csv.DictReader((run / "similarity_rank0.csv").open())
    }
    expected = rank0_similarity_from_the_weights([tmp_path / f for f in record["models"].values()], order="bottom")
    assert heat.keys() == expected.keys()
    for pair, value in expected.items():
        assert heat[pair] == pytest.approx(value, abs=1e-5), pair
    bands = [r for r in csv.DictReader((run / "similarity_bands.csv").open()) if r["rank"] == "0"]
    means = {
        int(r["size"]): float(r["mean_abs_cos"])
        for r in csv.DictReader((run / "similarity.csv").open())
        if r["rank"] == "0"
    }
    assert {int(r["size"]): float(r["mean"]) for r in bands} == pytest.approx(means)
    assert all(float(r["low"]) <= float(r["mean"]) <= float(r["high"]) for r in bands)


def rank0_similarity_from_the_weights(folders: list[Path], order: str) -> dict:
    """docs/science.md sections 4 and 6 written out: Q_c from the weights, eigh, u = E^T v; mean over classes and
    distinct-seed pairs of |cos| between the rank-0 eigenvectors of two sizes."""
    vectors = {}
    for folder in folders:
        w = load_file(str(folder / "model.safetensors"))
        E, (L, R), U = w["embed.weight"], w["bilinear.weight"].chunk(2), w["head.weight"]
        B = torch.einsum("co,oi,oj->cij", U, L, R)
        values, v = torch.linalg.eigh((B + B.mT) / 2)
        pick = {"bottom": 0, "top": -1}[order]
        recipe = json.loads((folder / "recipe.json").read_text())
        vectors[(recipe["d_hidden"], recipe["seed"])] = torch.einsum("cdk,di->cki", v, E)[:, pick]
    sizes = sorted({size for size, _ in vectors})
    seeds = sorted({seed for _, seed in vectors})
    result = {}
    for a in sizes:
        for b in sizes:
            pairs = [(s, t) for s in seeds for t in seeds if s != t and (a != b or s < t)]
            cosines = [
                torch.nn.functional.cosine_similarity(vectors[(a, s)], vectors[(b, t)], dim=-1).abs().mean()
                for s, t in pairs
            ]
            result[(a, b)] = float(torch.stack(cosines).mean())
    return result


def test_noise_sweep_and_accuracy(bilin_cli, tmp_path, tiny_root):
    sweep = bilin_cli("noise-sweep", "noises=[0,0.5]", "seeds=[3,4]", "d_hidden=8", *RECIPE)
    assert sweep.returncode == 0, sweep.stderr
    run = only_run_dir(tmp_path / "outputs" / "noise-sweep")
    rows = list(csv.DictReader((run / "noise_sweep.csv").open()))
    assert [(r["dataset"], r["noise"], r["seed"]) for r in rows] == [
        (d, n, s) for d in ("mnist", "fmnist") for n in ("0.0", "0.5") for s in ("3", "4")
    ]
    bands = list(csv.DictReader((run / "noise_frequency_bands.csv").open()))
    for band in bands:  # each band's mean is the mean over the two seeds' rows
        seeds = [
            float(r[band["measure"]]) for r in rows if (r["dataset"], r["noise"]) == (band["dataset"], band["noise"])
        ]
        assert float(band["mean"]) == pytest.approx(sum(seeds) / 2)
        assert float(band["low"]) < float(band["mean"]) < float(band["high"])
    assert (run / "figures" / "frequency_vs_noise.html").is_file()
    images = load_file(str(run / "noise_sweep.safetensors"))["images"]
    assert images.shape[0] == 4  # the first seed's top eigenvector per (dataset, noise)
    assert_signed_by_class(images[:2].flatten(1)[None], tiny_root, "mnist")  # target_class 0 of each model
    assert_signed_by_class(images[2:].flatten(1)[None], tiny_root, "fmnist")
    accuracy = bilin_cli("accuracy", "datasets=[mnist]", "d_hidden=8", *RECIPE)
    assert accuracy.returncode == 0, accuracy.stderr
    run = only_run_dir(tmp_path / "outputs" / "accuracy")
    table = list(csv.DictReader((run / "accuracy.csv").open()))
    assert [r["model"] for r in table] == ["bilinear", "bilinear_relu", "relu"]
    assert len(list(csv.DictReader((run / "per_class.csv").open()))) == 30
    assert "bilinear_relu" in accuracy.stdout


def test_analysis_bad_input(bilin_cli, tmp_path):
    missing = bilin_cli("decompose", f"run={tmp_path / 'nope'}")
    assert_clean_failure(missing, "does not exist", tmp_path)
    assert bilin_cli("train", *TINY_ARGS, "model=relu", "hydra.run.dir=relu_run").returncode == 0
    relu = bilin_cli("decompose", f"run={tmp_path / 'relu_run'}")
    assert_clean_failure(relu, "bilinear", tmp_path)
