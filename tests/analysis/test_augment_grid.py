"""The augmentation grid's numbers: the effective rank, one model's cell, and the grid's tables and bands."""

import math

import pytest
import torch

from bilin.analysis.augment_grid import MEASURES, AugmentGrid, GridCell, grid_cell
from bilin.analysis.decompose import eigendecompose
from bilin.analysis.effective_rank import effective_rank
from bilin.analysis.noise_sweep import TopEigenvector
from bilin.analysis.stats import mean_t_band
from tests.analysis.test_decompose import tiny_bilinear
from tests.analysis.test_noise_sweep import labelled_images


def test_effective_rank_counts_equal_magnitudes_and_is_one_for_a_single_eigenvalue():
    assert float(effective_rank(torch.tensor([2.0, -2.0, 2.0, 2.0]))) == pytest.approx(4.0)
    assert float(effective_rank(torch.tensor([0.0, 0.0, 5.0]))) == pytest.approx(1.0)
    assert float(effective_rank(torch.zeros(3))) == 0.0
    p = torch.tensor([0.5, 0.25, 0.25])
    assert float(effective_rank(p * 7)) == pytest.approx(math.exp(-(p * p.log()).sum().item()))
    assert effective_rank(torch.ones(2, 5)).tolist() == pytest.approx([5.0, 5.0])


def test_a_cell_reads_the_target_classs_spectrum_and_top_eigenvector():
    model = tiny_bilinear(inputs=16)
    x, y = labelled_images()
    cell = grid_cell(model, x, y, 2, 0.8, (0.5, 1.0, 7))
    values = eigendecompose(model).values[2]
    assert (cell.row, cell.col, cell.seed, cell.val_acc) == (0.5, 1.0, 7, 0.8)
    assert cell.top.eigenvalue == float(values.max()) and cell.top.image.shape == (4, 4)
    assert cell.effective_rank == pytest.approx(float(effective_rank(values)))
    assert 1 <= cell.effective_rank <= len(values)


def augment_grid() -> AugmentGrid:
    grid = AugmentGrid("noise", [0.0, 0.5], "blur", [0.0, 1.0, 2.0], [3, 4], target_class=0)
    for r in grid.row_values:
        for c in grid.col_values:
            for seed in grid.seeds:
                top = TopEigenvector(torch.full((4, 4), r + c + seed), 1.0 + r, 2.0 + c + seed, 3.0 - seed)
                grid.cells.append(GridCell(r, c, seed, 0.9 - r / 10 - c / 100 + seed / 1000, top, 5.0 + c * seed))
    return grid


def test_the_tables_name_the_axes_and_band_every_measure_over_seeds():
    grid = augment_grid()
    tables = grid.tables()
    rows, bands = tables["augment_grid.csv"], tables["augment_grid_bands.csv"]
    assert len(rows) == 12 and list(rows[0])[:3] == ["noise", "blur", "seed"] and set(MEASURES) <= set(rows[0])
    assert len(bands) == 6 * len(MEASURES)
    band = next(b for b in bands if (b["noise"], b["blur"], b["measure"]) == (0.5, 2.0, "effective_rank"))
    mean, low, high = mean_t_band(torch.tensor([5.0 + 2 * 3, 5.0 + 2 * 4], dtype=torch.float64))
    assert (band["mean"], band["low"], band["high"], band["samples"]) == (float(mean), float(low), float(high), 2)


def test_the_images_and_headline_are_the_first_seeds_and_the_mean_accuracy():
    grid = augment_grid()
    images = grid.images()
    assert images.shape == (2, 3, 4, 4) and float(images[1, 2, 0, 0]) == 0.5 + 2.0 + 3
    headline = grid.headline()
    assert list(headline)[:2] == ["val_acc.noise0.blur0", "val_acc.noise0.blur1"]
    assert headline["val_acc.noise0.5.blur2"] == pytest.approx(0.9 - 0.05 - 0.02 + 0.0035)
