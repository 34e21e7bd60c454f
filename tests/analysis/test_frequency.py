"""Ring spectra, their summaries, band-pass shapes, and the exact weight-based contrast response."""

import math

import pytest
import torch

from bilin.analysis.frequency import band_pass, band_pass_note, quadratic_form_spectrum, radial_spectrum
from bilin.csf.weight_csf import contrast_responses, threshold_contrast
from bilin.errors import UserError
from bilin.models.networks import BilinearMLP


def plane_wave(fx: int, fy: int, size: int = 28, phase: float = 0.3) -> torch.Tensor:
    axis = torch.arange(size, dtype=torch.float64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.cos(2 * math.pi * (fx * x + fy * y) / size + phase)


@pytest.mark.parametrize(("fx", "fy", "ring"), [(5, 0, 5), (0, 7, 7), (3, 4, 5), (1, 1, 1), (14, 0, 14)])
def test_a_grating_puts_all_its_energy_in_its_ring(fx, fy, ring):
    image = plane_wave(fx, fy)
    spectrum = radial_spectrum(image)
    assert spectrum.energy.sum().item() == pytest.approx(image.square().sum().item(), rel=1e-12)  # Parseval
    assert spectrum.fractions().argmax().item() == ring
    assert spectrum.fractions()[ring].item() == pytest.approx(1.0, abs=1e-12)
    assert spectrum.centroid().item() == pytest.approx(ring, abs=1e-9)
    assert spectrum.half_energy_frequency().item() == pytest.approx(ring, abs=1e-9)


def test_summaries_of_a_mixture():
    # energy 1/4 in ring 2 and 3/4 in ring 6 (amplitudes 1 and sqrt(3))
    image = plane_wave(2, 0) + math.sqrt(3) * plane_wave(0, 6, phase=1.0)
    spectrum = radial_spectrum(image[None])  # leading dimensions are kept
    assert spectrum.energy.shape[0] == 1
    assert spectrum.centroid()[0].item() == pytest.approx(0.25 * 2 + 0.75 * 6, abs=1e-9)
    # half of the energy: all of ring 2 and a third of ring 6, spread over [5.5, 6.5)
    assert spectrum.half_energy_frequency()[0].item() == pytest.approx(5.5 + 1 / 3, abs=1e-9)
    constant = radial_spectrum(torch.ones(28, 28))
    assert constant.centroid().item() == pytest.approx(0, abs=1e-12)
    assert constant.half_energy_frequency().item() == 0
    offset = radial_spectrum(plane_wave(3, 0) + 10)  # the mean (ring 0) does not move the summaries
    assert offset.centroid().item() == pytest.approx(3) and offset.half_energy_frequency().item() == pytest.approx(3)
    assert constant.mean_power[0].item() == pytest.approx(28 * 28)  # one frequency in ring 0


def test_quadratic_form_spectrum_weights_components_by_abs_eigenvalue():
    vectors = torch.stack([plane_wave(3, 0).flatten(), 5 * plane_wave(0, 9).flatten()])
    spectrum = quadratic_form_spectrum(torch.tensor([-3.0, 1.0]), radial_spectrum(vectors.view(2, 28, 28)))
    energy_3, energy_9 = 3 * vectors[0].square().sum(), 1 * vectors[1].square().sum()
    assert spectrum.energy.sum().item() == pytest.approx(1.0)
    assert spectrum.energy[3].item() == pytest.approx((energy_3 / (energy_3 + energy_9)).item())
    assert spectrum.energy[9].item() == pytest.approx((energy_9 / (energy_3 + energy_9)).item())


def test_band_pass_of_a_log_parabola_is_exact():
    sfs = torch.arange(1, 15, dtype=torch.float64)
    peak, width = 4.3, 1.2  # width: log-parabola curvature
    log_s = -((sfs.log() - math.log(peak)) ** 2) / width + 2.0
    shape = band_pass(sfs, torch.stack([log_s.exp(), (log_s + 1).exp()]))  # a scale does not matter
    assert torch.allclose(shape.peak, torch.tensor([peak, peak], dtype=torch.float64), rtol=1e-9)
    # half maximum relative to the largest sample (at f = 4): log S falls by ln 2 from there
    assert not shape.open_low.any() and not shape.open_high.any()
    assert (shape.low < peak).all() and (shape.high > peak).all()
    assert torch.allclose(shape.octaves, torch.log2(shape.high / shape.low))
    low_pass = band_pass(sfs, 1 / sfs)
    assert low_pass.peak.item() == 1.0 and low_pass.open_low.item() and low_pass.low.item() == 1.0
    assert low_pass.high.item() == pytest.approx(2.0)  # 1/f halves at f = 2, a sample


@pytest.mark.parametrize("sfs", [[2.5], [2.0, 4.0], [3.0, 3.0, 3.0]])
def test_a_peak_from_fewer_than_three_distinct_frequencies_is_not_estimable(sfs):
    """One or two frequencies (or three equal ones) have no vertex: NaN and a reason, not the sample as a peak."""
    x = torch.tensor(sfs, dtype=torch.float64)
    shape = band_pass(x, torch.stack([x.reciprocal(), x]))
    for value in (shape.peak, shape.low, shape.high, shape.octaves):
        assert value.shape == (2,) and value.isnan().all()
    assert "not estimable" in band_pass_note(sfs) and f"{len(set(sfs))} " in band_pass_note(sfs)
    three = band_pass(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64), torch.tensor([1.0, 2.0, 1.0]))
    assert three.peak.item() == pytest.approx(2.0) and band_pass_note([1.0, 2.0, 4.0]) == ""


def test_band_pass_reads_frequencies_in_any_order():
    """Neighbours are neighbours in frequency, not in the order the user listed them."""
    sfs = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0], dtype=torch.float64)
    sensitivity = torch.exp(-((sfs.log() - 1.5) ** 2))
    shuffled = torch.tensor([3, 0, 4, 1, 2])
    a, b = band_pass(sfs, sensitivity), band_pass(sfs[shuffled], sensitivity[shuffled])
    for x, y in ((a.peak, b.peak), (a.low, b.low), (a.high, b.high)):
        assert torch.equal(x, y)


def random_bilinear(seed: int, d: int = 12, inputs: int = 28 * 28) -> BilinearMLP:
    torch.manual_seed(seed)
    return BilinearMLP(inputs, d, 10).double()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_change_equals_the_forward_pass(seed):
    model = random_bilinear(seed)
    generator = torch.Generator().manual_seed(seed)
    background = torch.full((784,), 0.5, dtype=torch.float64)
    patterns = torch.randn(5, 784, generator=generator, dtype=torch.float64)
    response = contrast_responses(model, background, patterns)
    with torch.no_grad():
        base = model(background[None])
        base_hidden = _hidden(model, background[None])
        for c in (0.01, 0.3, 1.0, 2.5):
            x = background + c / 2 * patterns
            assert torch.allclose(response.logits.at(c), model(x) - base, rtol=1e-10, atol=1e-10)
            assert torch.allclose(response.hidden.at(c), _hidden(model, x) - base_hidden, rtol=1e-10, atol=1e-10)


def _hidden(model: BilinearMLP, x: torch.Tensor) -> torch.Tensor:
    left, right = model.bilinear(model.embed(x)).chunk(2, dim=-1)
    return left * right


def test_threshold_solves_the_rms_criterion():
    model = random_bilinear(3)
    background = torch.full((784,), 0.5, dtype=torch.float64)
    patterns = torch.randn(6, 784, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    groups = torch.tensor([0, 0, 0, 1, 1, 1])
    response = contrast_responses(model, background, patterns).logits
    thresholds = threshold_contrast(response, groups, criterion=0.7)
    for g in range(2):
        c = thresholds[g].item()
        rms = response.at(c)[groups == g].square().sum(1).mean().sqrt().item()
        assert rms == pytest.approx(0.7, rel=1e-9)
        below = response.at(0.999 * c)[groups == g].square().sum(1).mean().sqrt().item()
        assert below < 0.7  # the smallest root: below it the criterion is not reached
    never = threshold_contrast(
        type(response)(torch.zeros(2, 10, dtype=torch.float64), torch.zeros(2, 10, dtype=torch.float64)),
        torch.tensor([0, 0]),
        1.0,
    )
    assert never.isinf().all()


def test_only_an_ungated_bilinear_model_is_a_quadratic_form():
    gated = BilinearMLP(784, 8, 10, gate="relu")
    with pytest.raises(UserError, match="ungated bilinear"):
        contrast_responses(gated, torch.zeros(784), torch.zeros(1, 784))
    with pytest.raises(UserError, match="inputs"):
        contrast_responses(random_bilinear(0), torch.zeros(100), torch.zeros(1, 100))


def test_feature_spectra_rank_and_summarise_components():
    from bilin.analysis.decompose import Eigen
    from bilin.analysis.feature_spectra import feature_spectra

    # class 0: eigenvalues -5 (ring 9), 1 (ring 2), 3 (ring 4); class 1 the same waves, other values
    waves = torch.stack([plane_wave(9, 0), plane_wave(2, 0), plane_wave(0, 4)]).flatten(1)
    eigen = Eigen(torch.tensor([[-5.0, 1.0, 3.0], [-1.0, 0.5, 2.0]]), torch.stack([waves, 2 * waves]))
    spectra = feature_spectra(eigen, 28)
    assert spectra.by_magnitude[0].tolist() == [0, 2, 1]
    assert torch.allclose(spectra.top_centroid(2), torch.tensor([3.0, 3.0], dtype=torch.float64))
    rows = spectra.summary_rows(["a", "b"])
    assert [r["rank"] for r in rows[:4]] == ["M_c", 0, 1, 2]
    assert [r["centroid"] for r in rows[1:4]] == pytest.approx([9, 4, 2])
    whole = (5 * 9 + 3 * 4 + 1 * 2) / 9  # each wave has the same energy; weights |lambda|
    assert rows[0]["centroid"] == pytest.approx(whole)
    curves = spectra.spectrum_rows(["a", "b"], ranks=1)
    assert {r["rank"] for r in curves} == {"M_c", 0}
    assert sum(r["energy_fraction"] for r in curves if r["class"] == "a" and r["rank"] == 0) == pytest.approx(1)
