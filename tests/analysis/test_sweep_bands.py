"""One band function for the sweeps (noise-sweep, frequency): bands over seeds per dataset and measure."""

import math

import torch

from bilin.analysis.stats import sweep_bands, t_band

ROWS = [
    {"dataset": d, "noise": n, "seed": s, "peak": 1.0 + n + 0.1 * s + (d == "b"), "width": 0.1 * s - 0.05}
    for d in ("a", "b")
    for n in (0.0, 0.5)
    for s in (0, 1, 2)
]


def test_each_band_is_the_t_band_of_its_own_samples():
    bands = sweep_bands(ROWS, ["a", "b"], ["peak", "width"], "noise", [0.0, 0.5])
    assert list(bands.bands) == [("a", "peak"), ("a", "width"), ("b", "peak"), ("b", "width")]
    samples = [[r["peak"] for r in ROWS if (r["dataset"], r["noise"]) == ("b", n)] for n in (0.0, 0.5)]
    expected = t_band(torch.tensor(samples, dtype=torch.float64).T)
    got = bands.bands[("b", "peak")]
    assert torch.equal(got.mean, expected.mean) and torch.equal(got.low, expected.low) and got.samples == 3


def test_clips_cut_only_the_measures_named():
    bands = sweep_bands(ROWS, ["a"], ["peak", "width"], "noise", [0.0, 0.5], clips={"width": (0.0, math.inf)})
    assert bands.bands[("a", "peak")].clip is None
    assert (bands.bands[("a", "width")].low >= 0).all()


def test_rows_are_labelled_in_band_order_with_notes_when_asked():
    bands = sweep_bands(ROWS, ["a", "b"], ["peak", "width"], "noise", [0.0, 0.5])
    rows = bands.rows()
    assert [(r["dataset"], r["measure"], r["noise"]) for r in rows[:3]] == [
        ("a", "peak", 0.0),
        ("a", "peak", 0.5),
        ("a", "width", 0.0),
    ]
    assert "note" not in rows[0]
    noted = bands.rows(notes={"peak": "fit failed"})
    assert list(noted[0])[:4] == ["dataset", "measure", "note", "noise"]
    assert {r["measure"]: r["note"] for r in noted} == {"peak": "fit failed", "width": ""}


def test_samples_are_read_at_the_precision_asked():
    rows = [{"dataset": "a", "noise": 0.0, "m": 0.1}]
    assert float(sweep_bands(rows, ["a"], ["m"], "noise", [0.0]).bands[("a", "m")].mean[0]) == 0.1
    single = sweep_bands(rows, ["a"], ["m"], "noise", [0.0], dtype=torch.float32).bands[("a", "m")]
    assert float(single.mean[0]) == float(torch.tensor(0.1, dtype=torch.float32))
