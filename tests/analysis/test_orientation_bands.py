"""The sign rule for eigenvectors and bands that stay in their quantity's range."""

import torch

from bilin.analysis.decompose import Eigen, eigen_logits, eigendecompose, input_space_eigendecompose, orient_to_class
from bilin.analysis.stats import t_band
from bilin.analysis.truncate import TruncationGrid
from tests.analysis.test_decompose import tiny_bilinear


def class_data(n: int = 60, inputs: int = 20, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(n, inputs, generator=generator), torch.arange(n) % classes


def mean_projection(eigen: Eigen, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(classes, k): mean over the images of class c of u_{c,k} . x, computed image by image."""
    return torch.stack([(x[y == c] @ eigen.vectors[c].T).mean(0) for c in range(eigen.vectors.shape[0])])


def test_oriented_eigenvectors_project_their_class_positively():
    x, y = class_data()
    for decompose in (eigendecompose, input_space_eigendecompose):
        eigen = orient_to_class(decompose(tiny_bilinear()), x, y)
        assert (mean_projection(eigen, x, y) > 0).all()


def test_orientation_ignores_the_sign_it_is_given():
    x, y = class_data()
    eigen = eigendecompose(tiny_bilinear())
    flips = torch.where(torch.rand(eigen.values.shape, generator=torch.Generator().manual_seed(2)) < 0.5, -1.0, 1.0)
    flipped = Eigen(eigen.values, eigen.vectors * flips[..., None])
    assert not torch.equal(flipped.vectors, eigen.vectors)
    torch.testing.assert_close(orient_to_class(flipped, x, y).vectors, orient_to_class(eigen, x, y).vectors)


def test_orientation_changes_signs_only():
    """Each component keeps lambda (u . x)^2, so the logits and their decomposition are unchanged."""
    x, y = class_data()
    eigen = eigendecompose(tiny_bilinear())
    oriented = orient_to_class(eigen, x, y)
    torch.testing.assert_close(oriented.vectors.abs(), eigen.vectors.abs())
    assert torch.equal(oriented.values, eigen.values)
    probe = torch.randn(8, 20)
    before = torch.einsum("cki,bi->bck", eigen.vectors, probe).square() * eigen.values
    after = torch.einsum("cki,bi->bck", oriented.vectors, probe).square() * oriented.values
    torch.testing.assert_close(after, before)
    torch.testing.assert_close(eigen_logits(oriented, probe), eigen_logits(eigen, probe))


def test_orientation_takes_images_and_uint8_labels():
    """Images (n, h, w) are flattened like the model does; a class with no images keeps its signs."""
    x, y = class_data(inputs=16)
    eigen = Eigen(torch.zeros(4, 2), -torch.ones(4, 2, 16))
    oriented = orient_to_class(eigen, x.view(-1, 4, 4), torch.where(y == 3, 0, y).to(torch.uint8))
    assert (oriented.vectors[:3] == 1).all()
    assert (oriented.vectors[3] == -1).all()


def test_clipped_band_stays_in_range_and_holds_its_mean():
    samples = torch.tensor([[0.0, 0.01, 0.9], [0.02, 0.0, 1.0]])  # two seeds: a wide t band
    raw = t_band(samples)
    assert raw.low[0] < 0 and raw.high[2] > 1
    band = raw.clipped(0, 1)
    assert (band.low >= 0).all() and (band.high <= 1).all()
    assert (band.low <= band.mean).all() and (band.mean <= band.high).all()
    assert torch.equal(band.mean, raw.mean)
    assert "clipped to [0, 1]" in band.describe("2 seeds")
    assert band.rows("k", [0, 1, 2])[0]["clipped_to"] == "[0, 1]"


def test_truncation_bands_never_leave_zero_to_one():
    accuracy = torch.tensor([[[0.1, 0.90, 0.97], [0.1, 0.60, 0.99]]])  # (sizes, seeds, ks)
    grid = TruncationGrid([30], [0, 1], [0, 1, 2], accuracy, torch.tensor([[0.97, 0.99]]))
    for bands in (grid.error(), grid.drop()):
        band = bands[30]
        assert (band.low >= 0).all() and (band.high <= 1).all()
    rows = [r for r in grid.tables()["truncation_bands.csv"] if r["curve"] == "drop"]
    assert [r["low"] for r in rows] == grid.drop()[30].low.tolist()
