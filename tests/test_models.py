import pytest
import torch

from bilin.errors import UserError
from bilin.models.networks import BilinearMLP, ElementwiseProduct, ModelSpec, build_model


def test_bilinear_forward_is_the_papers_formula():
    torch.manual_seed(0)
    model = build_model(ModelSpec("bilinear", 784, 8, 10))
    x = torch.rand(5, 1, 28, 28)
    h = x.flatten(1) @ model.embed.weight.T
    L, R = model.bilinear.weight[:8], model.bilinear.weight[8:]
    expected = ((h @ L.T) * (h @ R.T)) @ model.head.weight.T
    torch.testing.assert_close(model(x), expected)
    assert torch.equal(model.left, L) and torch.equal(model.right, R)


@pytest.mark.parametrize("gate", ["relu", "silu", "gelu"])
def test_gated_forward(gate):
    torch.manual_seed(0)
    model = build_model(ModelSpec("bilinear", 784, 8, 10, gate=gate))
    x = torch.rand(3, 784)
    h = x @ model.embed.weight.T
    act = getattr(torch.nn.functional, gate)
    expected = (act(h @ model.left.T) * (h @ model.right.T)) @ model.head.weight.T
    torch.testing.assert_close(model(x), expected)


def test_relu_mlp_forward():
    torch.manual_seed(0)
    model = build_model(ModelSpec("relu", 784, 8, 10))
    x = torch.rand(3, 784)
    expected = torch.relu(x @ model.embed.weight.T @ model.hidden.weight.T) @ model.head.weight.T
    torch.testing.assert_close(model(x), expected)


def test_elementwise_product_gradient_is_exact():
    left_right = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ElementwiseProduct.apply, (left_right,))


def test_no_biases_anywhere():
    for spec in (ModelSpec("bilinear", 784, 8, 10), ModelSpec("relu", 784, 8, 10)):
        names = [n for n, _ in build_model(spec).named_parameters()]
        assert not any("bias" in n for n in names), names


def test_spec_round_trips_through_json():
    spec = ModelSpec("bilinear", 784, 8, 10, gate="relu", classes=tuple("abcdefghij"))
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_unknown_kind_is_a_user_error():
    with pytest.raises(UserError, match="unknown model kind"):
        build_model(ModelSpec("transformer", 784, 8, 10))
    assert isinstance(build_model(ModelSpec("bilinear", 4, 2, 3)), BilinearMLP)
