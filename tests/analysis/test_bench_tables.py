"""featvis-bench's statistics: intervals over models, paired differences, an exact permutation p."""

from __future__ import annotations

import math

import pytest
from scipy.stats import spearmanr

from bilin.analysis.bench_tables import method_means, paired_against, permutation_spearman


def rows(shift: float = 0.1) -> list[dict]:
    """Two models x 5 classes; `better` is `pixel` + shift (+ a little per class), `sphere` has no box share."""
    out = []
    for seed in (0, 1):
        for c in range(5):
            base = 0.2 + 0.1 * c + 0.05 * seed
            for method, value in (("pixel", base), ("better", base + shift + 0.01 * c), ("sphere", 1.0)):
                share = "" if method == "sphere" else value
                out.append({"model": "bilinear", "dataset": "mnist", "d_hidden": 8, "seed": seed, "method": method,
                            "class": c, "fraction": value, "box_share": share})  # fmt: skip
    return out


def test_means_carry_an_interval_over_models_not_over_images():
    summary = method_means(rows(), ["fraction", "box_share"])
    pixel = next(r for r in summary if (r["method"], r["score"]) == ("pixel", "fraction"))
    assert (pixel["models"], pixel["images"]) == (2, 10)
    assert pixel["mean"] == pytest.approx(0.425)
    # two model means, 0.4 and 0.45: a t interval with 1 degree of freedom, 6.31 x 0.025 each side
    assert pixel["high"] - pixel["mean"] == pytest.approx(6.3138 * 0.025, rel=1e-3)
    assert not any(r["method"] == "sphere" and r["score"] == "box_share" for r in summary)


def test_one_model_gets_no_interval_rather_than_a_zero_width_one():
    summary = method_means([r for r in rows() if r["seed"] == 0], ["fraction"])
    pixel = next(r for r in summary if r["method"] == "pixel")
    assert (pixel["models"], pixel["images"]) == (1, 5) and pixel["mean"] == pytest.approx(0.4)
    assert pixel["low"] == pixel["high"] == "" and pixel["interval"] == "none: one model"


def test_paired_differences_against_the_baseline():
    versus = paired_against(rows(), "pixel", ["fraction", "box_share"])
    better = next(r for r in versus if (r["method"], r["score"]) == ("better", "fraction"))
    assert better["mean_difference"] == pytest.approx(0.12) and better["pairs"] == 10
    assert better["low"] <= 0.12 <= better["high"] and better["models_same_sign"] == "2/2"
    assert better["wilcoxon_p"] == pytest.approx(2 / 2**10)  # every pair positive: the exact two-sided p
    assert not any(r["method"] == "pixel" for r in versus)
    assert not any(r["method"] == "sphere" and r["score"] == "box_share" for r in versus)


def test_permutation_p_is_exact_and_agrees_with_spearman():
    truth = [0.1, 0.5, 0.3, 0.9, 0.7, 0.2]
    same = permutation_spearman(truth, truth)
    assert same["spearman"] == pytest.approx(1.0) and same["p_permutation"] == pytest.approx(2 / 720)
    assert same["readable"] and same["note"] == ""
    proxy = [0.4, 0.1, 0.6, 0.8, 0.2, 0.3]
    got = permutation_spearman(truth, proxy)
    assert got["spearman"] == pytest.approx(spearmanr(truth, proxy).statistic)
    assert got["p_permutation"] > 0.05 and not got["readable"] and "p = " in got["note"]


def test_when_a_ranking_cannot_be_read():
    few = permutation_spearman([1, 2, 3], [1, 2, 3])
    assert not few["readable"] and "too few" in few["note"] and math.isnan(few["spearman"])
    ties = permutation_spearman([1, 2, 3, 4, 5, 6], [1, 1, 3, 4, 5, 6])
    assert not ties["readable"] and "ties" in ties["note"]
