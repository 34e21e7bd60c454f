"""The effective rank of every class's spectrum in truncate's grid and the noise sweep: the values
are effective_rank of the models' eigenvalues, and the bands are the t bands over seeds."""

import pytest
import torch
from scipy import stats

from bilin.analysis.decompose import eigendecompose
from bilin.analysis.effective_rank import effective_rank, effective_rank_bands, effective_rank_rows
from bilin.analysis.noise_sweep import read_model
from bilin.analysis.truncate import truncation_grid
from tests.analysis.test_decompose import tiny_bilinear
from tests.analysis.test_noise_sweep import labelled_images, sweep


def test_the_bands_are_the_seeds_mean_and_t_interval_per_class_and_for_the_mean():
    ranks = torch.tensor([[2.0, 5.0, 1.0], [4.0, 6.0, 1.0], [3.0, 7.0, 4.0]], dtype=torch.float64)
    rows = effective_rank_bands(ranks, size=8)
    assert [r["class"] for r in rows] == [0, 1, 2, "mean"] and all(r["size"] == 8 for r in rows)
    half = stats.t.ppf(0.95, 2) * 1.0 / 3**0.5  # class 0: samples 2, 4, 3 -> sd 1
    assert rows[0]["mean"] == pytest.approx(3.0) and rows[0]["high"] == pytest.approx(3.0 + half)
    assert rows[3]["mean"] == pytest.approx(float(ranks.mean())) and rows[3]["samples"] == 3


def test_the_per_class_rows_name_each_class():
    rows = effective_rank_rows(torch.tensor([[1.0, 1.0], [0.0, 3.0]]), ["a", "b"])
    assert rows == [
        {"class": "a", "effective_rank": pytest.approx(2.0), "components": 2},
        {"class": "b", "effective_rank": pytest.approx(1.0), "components": 2},
    ]


def test_truncation_grid_records_each_models_effective_ranks():
    models = {(4, s): tiny_bilinear(inputs=16, d=4, seed=s) for s in (0, 1)}
    x, y = labelled_images()
    grid = truncation_grid(models, [4], [0, 1], x, y, [0, 2])
    for j in range(2):
        assert torch.allclose(grid.effective_ranks[0, j], effective_rank(eigendecompose(models[(4, j)]).values))
    tables = grid.tables()
    assert len(tables["effective_rank.csv"]) == 2 * grid.effective_ranks.shape[2]
    mean = next(r for r in tables["effective_rank_bands.csv"] if r["class"] == "mean")
    assert mean["mean"] == pytest.approx(float(grid.effective_ranks.mean()))


def test_the_noise_sweep_reads_the_effective_ranks_of_the_same_eigendecomposition():
    model = tiny_bilinear(inputs=16)
    x, y = labelled_images()
    _, ranks = read_model(model, x, y, target_class=1)
    assert torch.allclose(ranks, effective_rank(eigendecompose(model).values))
    result = sweep()
    assert "noise_effective_rank.csv" not in result.tables()  # points made without ranks: no table
    for i, point in enumerate(result.points):
        point.effective_ranks = torch.tensor([1.0 + i, 2.0], dtype=torch.float64)
    tables = result.tables()
    assert len(tables["noise_effective_rank.csv"]) == 2 * len(result.points)
    bands = tables["noise_effective_rank_bands.csv"]
    assert len(bands) == 2 * 2 * 3  # datasets x noises x (classes + mean)
    first = bands[0]  # mnist, noise 0, class 0: points 0 and 1 (seeds 3, 4)
    assert (first["dataset"], first["noise"], first["class"], first["mean"]) == ("mnist", 0.0, 0, pytest.approx(1.5))
