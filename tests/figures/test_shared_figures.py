"""decompose method=hosvd|cp figures: what they draw is what the CSVs hold; images drop the constant."""

import pytest
import torch

from bilin.analysis.cp_settings import SharedSettings
from bilin.analysis.shared_decomposition import shared_decomposition
from bilin.figures.shared_decomposition import shared_figures
from bilin.models.networks import ModelSpec, build_model


def decomposed(method: str, bias: bool = False):
    model = build_model(
        ModelSpec("bilinear", 16, 6, 10, input_shape=(1, 4, 4), bias=bias), torch.Generator().manual_seed(0)
    )
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(30, 16, generator=g), torch.arange(30) % 10
    return shared_decomposition(model, "mnist", x, y, SharedSettings(method=method, rank=3, cp_steps=20))


def flat(rows) -> list[float]:
    return [v for row in rows for v in row]


def test_hosvd_figures_draw_the_csvs_numbers():
    result = decomposed("hosvd")
    figures = shared_figures(result)
    assert list(figures) == ["hosvd_input_factors", "hosvd_output_factors", "hosvd_core_energy", "hosvd_energy"]
    tables = result.tables()
    weights = [[r["weight"] for r in tables["hosvd_output_factors.csv"] if r["class"] == c] for c in result.classes]
    assert flat(figures["hosvd_output_factors"].data[0].z) == pytest.approx(flat(weights))
    cumulative = [r["cumulative"] for r in tables["hosvd_energy.csv"] if r["mode"] == "input"]
    assert list(figures["hosvd_energy"].data[1].y) == pytest.approx(cumulative)
    assert figures["hosvd_input_factors"].layout.annotations[0].text.startswith("#1 ")


def test_cp_figures_draw_the_csvs_numbers_and_the_image_part_with_biases():
    result = decomposed("cp", bias=True)
    figures = shared_figures(result)
    assert list(figures) == ["cp_components", "cp_class_weights", "cp_quality"]
    tables = result.tables()
    weights = [[r["weight"] for r in tables["cp_weights.csv"] if r["class"] == c] for c in result.classes]
    assert flat(figures["cp_class_weights"].data[0].z) == pytest.approx(flat(weights))
    assert list(figures["cp_quality"].data[0].y) == pytest.approx([r["cosine"] for r in tables["cp.csv"]])
    assert "image part" in figures["cp_components"].layout.title.subtitle.text
    image = figures["cp_components"].data[0].z
    assert len(image) == 4 and len(image[0]) == 4  # 4 x 4 pixels: the constant coordinate is not drawn
    assert "1: " in figures["cp_components"].layout.annotations[0].text
