"""What featvis-bench reports of the image a model sees: its share of pixels at the range's ends and
how far its magnitude spectrum is from the data's (MACO's is the data's only before the clip)."""

from __future__ import annotations

import torch

from bilin.featvis.colour import fit_colour_basis
from bilin.featvis.param import MacoParam
from bilin.featvis.spectrum import at_bounds, magnitude_spectrum, seen_image_measures, spectral_error


def test_spectral_error_is_zero_for_the_data_spectrum_and_grows_with_the_clip():
    generator = torch.Generator().manual_seed(0)
    data = torch.rand(32, 1, 12, 10, generator=generator) ** 3
    magnitude = magnitude_spectrum(data, (12, 10))
    free = MacoParam((4, 1, 12, 10), magnitude, generator, squash="none").image().detach()
    assert torch.allclose(spectral_error(free, magnitude), torch.zeros(4), atol=1e-5)
    clipped = free.clamp(0, 1)
    outside = ((free <= 0) | (free >= 1)).flatten(1).float().mean(1)
    assert (at_bounds(clipped) > 0.05).all() and torch.equal(at_bounds(clipped), outside)
    assert (spectral_error(clipped, magnitude) > 0.01).all()
    # a uniform image at the data's mean: its spectrum is the data's DC bin alone
    mean = torch.full((1, 1, 12, 10), float(data.mean()))
    ac = magnitude.clone()
    ac[:, 0, 0] = 0
    weight = torch.full((12, 6), 2.0)
    weight[:, 0] = weight[:, -1] = 1.0
    expected = ((weight * ac.square()).sum() / (weight * magnitude.square()).sum()).sqrt()
    assert torch.allclose(spectral_error(mean, magnitude), expected[None], atol=1e-5)


def test_at_bounds_counts_pixels_at_either_end():
    image = torch.tensor([0.0, 0.5, 1.0, 0.2]).view(1, 1, 2, 2)
    assert at_bounds(image).tolist() == [0.5]
    assert at_bounds(image, (0.2, 0.5)).tolist() == [1.0]


def test_seen_image_measures_compare_in_the_colour_basis_of_the_spectrum():
    generator = torch.Generator().manual_seed(1)
    data = torch.rand(16, 3, 8, 8, generator=generator)
    data[:, 1] = 0.7 * data[:, 0] + 0.3 * data[:, 1]  # correlated channels
    colour = fit_colour_basis(data)
    magnitude = magnitude_spectrum(data, (8, 8), colour)
    images = data[:6].view(2, 3, 3, 8, 8)  # (targets, images, c, h, w)
    seen = seen_image_measures(images, magnitude, colour)
    assert seen["at_bounds"].shape == seen["spectral_error"].shape == (2, 3)
    expected = spectral_error(colour.to_basis(data[:6]), magnitude).view(2, 3)
    assert torch.allclose(seen["spectral_error"], expected)
    assert not torch.allclose(seen["spectral_error"], spectral_error(data[:6], magnitude).view(2, 3))
