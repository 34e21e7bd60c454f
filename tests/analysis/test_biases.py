"""model.bias=true: biases on the bilinear layer and the head, folded exactly into the augmented
input [x; 1] (bilin.analysis.decompose); without them, everything is as it was (weights, keys, files).

Tolerances: float64 folds agree with the forward pass to 1e-10 (the error is ~1e-15 on logits of
order 1-10); float32 ones to rtol = atol = 1e-4 (the error is ~1e-6: eigh and the einsums in float32).
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from bilin.analysis.decompose import (
    contributions,
    eigen_logits,
    eigendecompose,
    input_space_eigendecompose,
    orient_to_class,
    quadratic_form,
)
from bilin.analysis.decomposition import Decomposition
from bilin.analysis.featvis_scores import Optimum
from bilin.analysis.truncate import truncated_logits, truncation_accuracy
from bilin.csf.weight_csf import contrast_responses
from bilin.errors import UserError
from bilin.featvis.measures import top_eigenvalues
from bilin.figures.decompose import decomposition_figures
from bilin.models.networks import ModelSpec, build_model
from bilin.train.recipe import Recipe

FP64 = {"rtol": 1e-10, "atol": 1e-10}
FP32 = {"rtol": 1e-4, "atol": 1e-4}
INPUTS, D, CLASSES = 49, 8, 3


def biased_model(dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.nn.Module:
    """A bilinear MLP with biases large enough to matter (the default init draws them small)."""
    model = build_model(ModelSpec("bilinear", INPUTS, D, CLASSES, input_shape=(1, 7, 7), bias=True))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model.to(dtype).eval()


def inputs(n: int = 32, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(n, INPUTS, generator=torch.Generator().manual_seed(1), dtype=dtype)


@pytest.mark.parametrize("decompose", [eigendecompose, input_space_eigendecompose])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, FP64), (torch.float32, FP32)])
def test_the_folded_quadratic_form_is_the_forward_pass(decompose, dtype, tolerance):
    model, x = biased_model(dtype), inputs(dtype=dtype)
    eigen = decompose(model)
    assert eigen.constant and eigen.values.shape == (CLASSES, D + 1) and eigen.vectors.shape[-1] == INPUTS + 1
    with torch.no_grad():
        logits = model(x)
    assert logits.abs().max() > 1  # the biases are not negligible
    torch.testing.assert_close(eigen_logits(eigen, x), logits, **tolerance)
    # the form itself: logit_c = [x; 1]^T E'^T Q_c E' [x; 1]
    embed, Q, constant = quadratic_form(model)
    hidden = torch.cat([x, torch.ones(len(x), 1, dtype=dtype)], 1) @ embed.T
    torch.testing.assert_close(torch.einsum("bi,cij,bj->bc", hidden, Q, hidden), logits, **tolerance)


def test_signed_components_sum_to_each_logit_and_truncation_with_all_is_the_model():
    model, x = biased_model(), inputs()
    y = torch.arange(len(x)) % CLASSES
    eigen = orient_to_class(eigendecompose(model), x, y)
    with torch.no_grad():
        logits = model(x)
    for c in range(CLASSES):
        assert contributions(eigen, x[0], c).sum().item() == pytest.approx(logits[0, c].item(), rel=1e-10)
    torch.testing.assert_close(truncated_logits(eigen, x, D + 1), logits, **FP64)
    assert not torch.allclose(truncated_logits(eigen, x, D), logits)  # the (d + 1)th component is needed
    accuracy = truncation_accuracy(eigen, x, y, [D + 1])
    assert accuracy.item() == pytest.approx((logits.argmax(1) == y).double().mean().item())
    with pytest.raises(UserError, match="outside 0..9"):
        truncated_logits(eigen, x, D + 2)


def test_the_sign_rule_reads_the_component_of_x_and_1():
    model, x = biased_model(), inputs()
    y = torch.arange(len(x)) % CLASSES
    eigen = orient_to_class(eigendecompose(model), x, y)
    means = torch.stack([x[y == c].mean(0) for c in range(CLASSES)])
    projection = torch.einsum("cki,ci->ck", eigen.images, means) + eigen.constants
    assert (projection >= 0).all()


def test_the_weight_csf_stays_exact_with_biases():
    model = biased_model()
    background, patterns = torch.full((INPUTS,), 0.5, dtype=torch.float64), inputs(5) - 0.5
    response = contrast_responses(model, background, patterns).logits
    with torch.no_grad():
        for contrast in (0.1, 0.7):
            change = model(background + contrast / 2 * patterns) - model(background[None])
            torch.testing.assert_close(response.at(contrast), change, **FP64)


def test_figures_show_the_image_part_and_report_the_constant():
    model, x = biased_model(torch.float32), inputs(dtype=torch.float32)
    eigen = orient_to_class(eigendecompose(model), x, torch.arange(len(x)) % CLASSES)
    rows = eigen.spectrum_rows(["a", "b", "c"])
    assert len(rows) == CLASSES * (D + 1) and rows[0]["constant"] == pytest.approx(float(eigen.vectors[0, 0, -1]))
    assert eigen.images.shape == (CLASSES, D + 1, INPUTS)
    result = Decomposition("mnist", _ten_classes(eigen), side=7)  # MNIST's ten names on 7 x 7 images
    figures = decomposition_figures(result)
    assert "1: " in figures["fig2_top_eigenvectors"].layout.annotations[0].text
    assert "1: " in figures["fig3_spectrum_class0"].layout.annotations[1].text
    assert "[x; 1]" in result.tensors("here")["eigen.safetensors"].metadata["layout"]


def _ten_classes(eigen):
    """The same Eigen repeated to MNIST's ten classes."""
    return eigen.with_components(eigen.values.repeat(4, 1)[:10], eigen.vectors.repeat(4, 1, 1)[:10])


def test_consumers_that_cannot_be_exact_refuse_or_leave_it_out():
    model = biased_model(torch.float32)
    with pytest.raises(UserError, match="without biases"):
        Optimum.from_eigen(input_space_eigendecompose(model))
    assert top_eigenvalues(model, []) is None  # featvis's fraction-of-best: not a sphere optimum with biases
    with pytest.raises(UserError, match="model=relu does not take it"):
        build_model(ModelSpec("relu", INPUTS, D, CLASSES, bias=True))


def test_without_biases_the_model_its_files_and_its_keys_are_as_before():
    spec = ModelSpec("bilinear", 20, 6, 3)
    model = build_model(spec, torch.Generator().manual_seed(0))
    assert list(model.state_dict()) == ["embed.weight", "bilinear.weight", "head.weight"]
    weights = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values())).hexdigest()[:16]
    assert weights == "e78335bbf5600d92"  # computed before biases existed
    record = spec.to_json()
    assert "bias" not in record and "bias" not in record["forward"]
    assert ModelSpec.from_json(json.loads(json.dumps(record))) == spec
    assert not eigendecompose(model).constant


def test_model_json_of_a_biased_model_round_trips_and_is_checked():
    spec = ModelSpec("bilinear", 20, 6, 3, bias=True)
    record = json.loads(json.dumps(spec.to_json()))
    assert record["bias"] is True and "head.bias" in record["forward"]
    assert ModelSpec.from_json(record) == spec
    assert list(build_model(spec).state_dict()) == [
        *("embed.weight", "bilinear.weight", "bilinear.bias", "head.weight", "head.bias")
    ]
    with pytest.raises(UserError, match="not a bilin model description"):
        ModelSpec.from_json({**record, "bias": "yes"})


def test_bias_is_left_out_of_the_cache_key_and_recipe_json_while_false():
    base = Recipe("bilinear", None, "mnist", 512, 100, 1e-3, 1.0, 2048, "fp32", 0.5, 420)  # train's defaults
    assert base.key() == "06569e72ccf2b51f"  # the key of the same recipe before bias existed
    assert "bias" not in base.record()
    biased = Recipe.from_record({**base.record(), "bias": True})
    assert biased.bias and biased.record()["bias"] is True
    assert biased.key() == "ecb123c3dc16e1a2" and biased.key() != base.key()
    assert Recipe.from_record(base.record()) == base  # a recipe.json of an older bilin
    assert "-bias-" in biased.folder_name("k") and "bias" not in base.folder_name("k")
    assert biased.spec().bias and not base.spec().bias


def test_a_grid_of_biased_models_has_d_plus_1_components_per_class():
    from bilin.commands.truncate import TruncateConfig
    from bilin.settings.options import DataConfig, ModelConfig

    grid = TruncateConfig(model=ModelConfig("bilinear", bias=True), data=DataConfig("mnist"), sizes=[8])
    grid.require_per_model(9, "k_max", "components")
    with pytest.raises(UserError, match="k_max=10 is beyond d \\+ 1=9"):
        grid.require_per_model(10, "k_max", "components")
