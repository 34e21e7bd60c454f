"""What decompose reads from one model: its tables and tensor files hold exactly the parts asked for."""

import pytest
import torch

from bilin.analysis.decompose import SIGN_RULE, eigendecompose, orient_to_class
from bilin.analysis.decomposition import Decomposition, explain_test_image
from bilin.analysis.effective_rank import effective_rank
from bilin.errors import UserError
from tests.analysis.test_decompose import tiny_bilinear
from tests.analysis.test_noise_sweep import labelled_images


def decomposition(**parts) -> tuple[torch.nn.Module, Decomposition]:
    model = tiny_bilinear(inputs=16, classes=10)  # "mnist"'s ten classes, 4 x 4 images
    x, y = labelled_images(inputs=16, classes=10)
    return model, Decomposition("mnist", orient_to_class(eigendecompose(model), x, y), side=4, **parts)


def test_the_plain_decomposition_writes_the_spectrum_frequencies_and_effective_ranks_only():
    _, result = decomposition()
    tables = result.tables()
    assert list(tables) == ["spectrum.csv", "frequency.csv", "frequency_spectra.csv", "effective_rank.csv"]
    ranks = effective_rank(result.eigen.values)
    assert [r["effective_rank"] for r in tables["effective_rank.csv"]] == ranks.tolist()
    assert len(tables["spectrum.csv"]) == 10 * 12 and tables["spectrum.csv"][12]["class"] == "1"
    (name,) = files = result.tensors("runs/train/x")
    assert name == "eigen.safetensors"
    assert files[name].metadata["source"] == "runs/train/x" and files[name].metadata["layout"].endswith(SIGN_RULE)
    assert list(result.headline()) == ["top5_centroid_cycles_per_image", "top_eigenvalue_mean"]


def test_each_part_asked_for_adds_its_table_and_tensors():
    model, plain = decomposition()
    x, y = labelled_images(inputs=16, classes=10)
    _, result = decomposition(
        input_space=plain.eigen,
        panel={"mnist": plain.eigen, "fmnist": plain.eigen},
        explanation=explain_test_image(model, plain.eigen, x, y, 3),
    )
    tables = result.tables()
    assert list(tables)[4:] == ["spectrum_input_space.csv", "panel.csv", "explain.csv"]
    assert [(r["dataset"], r["class"]) for r in tables["panel.csv"][9:11]] == [
        ("mnist", "9"),
        ("fmnist", "t-shirt/top"),
    ]
    assert {r["class"] for r in tables["explain.csv"]} <= set(result.classes) and result.explanation.label == 3
    files = result.tensors("cache/entry")
    assert list(files) == ["eigen.safetensors", "eigen_input_space.safetensors", "panel.safetensors"]
    assert {d: t.shape for d, t in files["panel.safetensors"].tensors.items()} == {
        "mnist": (10, 16),
        "fmnist": (10, 16),
    }


def test_an_index_outside_the_test_set_is_the_users_mistake():
    model, result = decomposition()
    x, y = labelled_images(n=4, inputs=16, classes=10)
    with pytest.raises(UserError, match=r"explain=4 is outside the test set \(0..3\)"):
        explain_test_image(model, result.eigen, x, y, 4)
