"""The noise sweep's numbers: one class's top eigenvector per model, and the sweep's tables and bands."""

import pytest
import torch

from bilin.analysis.decompose import eigendecompose
from bilin.analysis.frequency import radial_spectrum
from bilin.analysis.noise_sweep import CENTROID_MEASURES, NoiseSweep, SweepPoint, TopEigenvector, top_eigenvector
from bilin.analysis.stats import sweep_bands
from tests.analysis.test_decompose import tiny_bilinear


def labelled_images(n=40, inputs=16, classes=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, inputs, generator=generator), torch.arange(n) % classes


def test_the_top_eigenvector_is_the_largest_eigenvalues_signed_by_its_class():
    model = tiny_bilinear(inputs=16)
    x, y = labelled_images()
    top = top_eigenvector(model, x, y, target_class=2)
    values = eigendecompose(model).values[2]
    assert top.eigenvalue == float(values.max()) and top.image.shape == (4, 4)
    assert float(top.image.flatten() @ x[y == 2].mean(0)) > 0
    assert top.centroid == pytest.approx(float(radial_spectrum(top.image[None]).centroid()[0]))  # of that image


def sweep() -> NoiseSweep:
    result = NoiseSweep(["mnist", "fmnist"], [0.0, 0.5], [3, 4], target_class=0)
    for d, dataset in enumerate(result.datasets):
        for noise in result.noises:
            for seed in result.seeds:
                image = torch.full((4, 4), 10 * d + noise + seed)
                top = TopEigenvector(image, 1.0 + noise, 2.0 + noise + seed, 3.0 - seed)
                result.points.append(SweepPoint(dataset, noise, seed, 0.9 - noise / 10, top))
    return result


def test_the_figures_images_and_headline_are_the_first_seeds():
    result = sweep()
    assert [(p.dataset, p.noise) for p in result.first_seed] == [
        ("mnist", 0.0),
        ("mnist", 0.5),
        ("fmnist", 0.0),
        ("fmnist", 0.5),
    ]
    assert result.images().shape == (4, 4, 4) and float(result.images()[3, 0, 0]) == 13.5
    assert result.headline() == {
        "val_acc.mnist.noise0": 0.9,
        "val_acc.mnist.noise0.5": 0.85,
        "val_acc.fmnist.noise0": 0.9,
        "val_acc.fmnist.noise0.5": 0.85,
    }


def test_tables_hold_every_point_and_the_centroid_bands_over_seeds():
    result = sweep()
    tables = result.tables()
    rows = tables["noise_sweep.csv"]
    assert len(rows) == 8 and rows[1] == {
        "dataset": "mnist",
        "noise": 0.0,
        "seed": 4,
        "val_acc": 0.9,
        "top_eigenvalue": 1.0,
        "centroid_top_eigenvector": 6.0,
        "centroid_top_eigenvectors": -1.0,
    }
    expected = sweep_bands(rows, ["mnist", "fmnist"], CENTROID_MEASURES, "noise", [0.0, 0.5], dtype=torch.float32)
    assert tables["noise_frequency_bands.csv"] == expected.rows()
    assert {r["mean"] for r in tables["noise_frequency_bands.csv"] if r["measure"] == "centroid_top_eigenvectors"} == {
        -0.5
    }
