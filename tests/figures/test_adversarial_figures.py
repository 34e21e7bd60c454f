"""`bilin adversarial`'s figures from a tiny study: a line and band per method, the masks as images."""

import torch

from bilin.analysis.adversarial import MASKS, METHODS, AdversarialStudy, Attack, attack_model
from bilin.analysis.decompose import eigendecompose, orient_to_class
from bilin.figures.adversarial import METHOD_LABELS, adversarial_figures
from tests.analysis.test_decompose import tiny_bilinear


def tiny_study(target):
    model = tiny_bilinear(d=8, inputs=784, classes=10)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(60, 784, generator=generator), torch.arange(60) % 10
    eigen = orient_to_class(eigendecompose(model), x, y)
    attack = Attack([0.0, 1.0, 2.0], target, 2, False, 2)
    study = AdversarialStudy(["mnist"], [0, 1], attack)
    for seed in (0, 1):
        study.add("mnist", seed, *attack_model(model, eigen, x, y, x, y, attack, seed))
    return study


def test_each_method_has_a_line_per_panel_and_every_mask_is_drawn():
    for target in (3, None):
        figures = adversarial_figures(tiny_study(target), d_hidden=8, epochs=2, noise=0.5)
        lines = [t for t in figures["adversarial_vs_alpha"].data if t.mode == "lines+markers"]
        assert len(lines) == 2 * len(METHODS)  # accuracy and success panels
        assert [t.name for t in lines if t.showlegend] == [METHOD_LABELS[m] for m in METHODS]
        masks = figures["adversarial_masks"]
        assert len(masks.data) == len(MASKS) * 10
        titles = [a.text for a in masks.layout.annotations]
        assert ("3 (target)" in titles) == (target == 3)


def test_the_subtitle_says_how_the_mask_of_each_kind_was_made():
    untargeted = adversarial_figures(tiny_study(None), d_hidden=8, epochs=2, noise=0.5)["adversarial_vs_alpha"]
    assert (
        "most negative" in untargeted.layout.title.subtitle.text
        and "left out" not in untargeted.layout.title.subtitle.text
    )
