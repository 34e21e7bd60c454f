import pytest
import torch

from bilin.analysis.decompose import Eigen, eigendecompose
from bilin.analysis.similarity import abs_cosine, distinct_pairs, pair_similarities, ranked_vectors
from bilin.analysis.stats import mean_t_band
from bilin.analysis.truncate import truncated_logits, truncation_accuracy
from bilin.errors import UserError
from tests.analysis.test_decompose import tiny_bilinear


def test_truncation_at_d_reproduces_the_model():
    model = tiny_bilinear()
    eigen = eigendecompose(model)
    x = torch.randn(64, 20)
    with torch.no_grad():
        predicted = model(x).argmax(-1)
    assert torch.equal(truncated_logits(eigen, x, 12).argmax(-1), predicted)
    assert truncated_logits(eigen, x, 0).abs().max() == 0
    accuracy = truncation_accuracy(eigen, x, predicted, [0, 3, 12])
    assert accuracy[2] == 1.0
    for k, a in zip([0, 3], accuracy[:2], strict=True):
        assert a == pytest.approx((truncated_logits(eigen, x, k).argmax(-1) == predicted).float().mean().item())


def test_truncation_keeps_largest_magnitudes_with_signs():
    eigen = Eigen(values=torch.tensor([[-3.0, 0.5, 2.0]]), vectors=torch.eye(3)[None])
    x = torch.tensor([[1.0, 1.0, 1.0]])
    assert truncated_logits(eigen, x, 1).item() == -3.0
    assert truncated_logits(eigen, x, 2).item() == -1.0


def test_k_beyond_d_is_refused():
    eigen = eigendecompose(tiny_bilinear())
    with pytest.raises(UserError, match="k=13 is outside 0..12"):
        truncated_logits(eigen, torch.randn(2, 20), 13)
    with pytest.raises(UserError):
        truncation_accuracy(eigen, torch.randn(2, 20), torch.zeros(2, dtype=torch.long), [5, 40])


def test_sign_flipped_copy_has_similarity_one():
    eigen = eigendecompose(tiny_bilinear())
    flipped = Eigen(eigen.values, -eigen.vectors)
    sims = abs_cosine(ranked_vectors(eigen), ranked_vectors(flipped))
    torch.testing.assert_close(sims, torch.ones_like(sims))


def test_top_and_bottom_orders():
    values = torch.tensor([[-5.0, -1.0, 0.5, 4.0]])  # ascending, as eigh returns them
    vectors = torch.eye(4)[None]
    eigen = Eigen(values, vectors)
    assert ranked_vectors(eigen, "top", 2)[0].argmax(-1).tolist() == [3, 2]  # largest positive first
    assert ranked_vectors(eigen, "bottom", 2)[0].argmax(-1).tolist() == [0, 1]  # most negative first
    assert ranked_vectors(eigen, "abs", 2)[0].argmax(-1).tolist() == [0, 3]
    with pytest.raises(UserError):
        ranked_vectors(eigen, "middle")


def test_pairs_never_include_a_model_with_itself():
    assert distinct_pairs([0, 1, 2], [0, 1, 2], same_models=True) == [(0, 1), (0, 2), (1, 2)]
    across = distinct_pairs([0, 1, 2], [0, 1, 2], same_models=False)
    assert len(across) == 6 and all(i != j for i, j in across)
    with pytest.raises(UserError, match="at least two seeds"):
        pair_similarities([torch.zeros(1, 1, 3)], [torch.zeros(1, 1, 3)], [0], [0], same_models=True)


def test_t_band_matches_scipy_by_hand():
    samples = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    mean, low, high = mean_t_band(samples, confidence=0.9)
    half = 2.3533634 * samples.std() / 2  # t_{0.95, 3} * s / sqrt(4)
    assert mean.item() == 2.5
    assert high.item() - mean.item() == pytest.approx(half.item(), rel=1e-6)
    assert mean.item() - low.item() == pytest.approx(half.item(), rel=1e-6)
