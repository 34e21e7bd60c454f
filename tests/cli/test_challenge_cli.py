"""`bilin challenge` through the CLI: its mistakes end in one line (before anything runs where the
config alone shows them), and a tiny run end to end writes the CSVs, the eigenvectors and the figures."""

import csv
import json

import pytest
from safetensors.torch import load_file

from bilin.data.planted_rule import CLASSES
from bilin.report.explorer import explorer_data
from bilin.train.recipe import data_of_run
from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import only_run_dir

MISTAKES = [
    (["model=relu"], "only exact for the ungated bilinear model, not relu"),
    (["model=bilinear_silu"], "not bilinear with gate=silu"),
    (["data=cifar10"], "challenge draws 28 x 28 grey images: data=mnist or data=fmnist, not cifar10"),
    (["threshold=0"], "threshold=0.0 must be > 0"),
    (["threshold=1.5"], "threshold=1.5 must be <= 1"),
    (["threshold=nan"], "finite"),
    (["target_index=-1"], "target_index=-1 must be >= 0"),
    (["seeds=[]"], "seeds must name at least one seed"),
    (["d_hidden=4", "components=6"], "components=6 is beyond the 5 eigenvectors of a rule logit (d_hidden + 1)"),
    (["model=bilinear", "d_hidden=4", "components=5"], "components=5 is beyond the 4 eigenvectors"),
]
RUN = ["experiment=smoke", "device=cpu"]


@pytest.mark.parametrize("args,fragment", MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_mistakes_stop_in_one_line_before_anything_runs(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("challenge", *args), fragment, tmp_path)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["target_index=640"], "target_index=640 is not a training image: mnist has 640 (0..639)"),
        (["threshold=1"], "threshold=1 labels no training image 'rule' for target_index=3: there is nothing to learn"),
    ],
)
def test_a_target_or_threshold_the_data_cannot_take_is_one_line(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("challenge", *RUN, *args), fragment, tmp_path)
    assert not list((tmp_path / "outputs" / "cache").glob("bilinear*"))  # checked before any training


@pytest.mark.slow
def test_a_tiny_challenge_end_to_end(bilin_cli, tmp_path, tiny_root):
    result = bilin_cli("challenge", *RUN, "components=3", "threshold=0.6")  # the tiny data: 8% labelled rule
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "challenge")
    rows = list(csv.DictReader((run / "challenge.csv").open()))
    assert [(r["condition"], r["seed"]) for r in rows] == [
        ("rule", "0"),
        ("shuffled", "0"),
        ("rule", "1"),
        ("shuffled", "1"),
    ]
    for r in rows:
        assert 0 <= float(r["span_target"]) <= 1 and float(r["cos_target"]) <= float(r["span_target"]) + 1e-6
        assert 1 <= float(r["effective_rank"]) <= 9  # d_hidden 8 + the constant
    bands = {(b["condition"], b["measure"]): b for b in csv.DictReader((run / "challenge_bands.csv").open())}
    spans = [float(r["span_target"]) for r in rows if r["condition"] == "rule"]
    assert float(bands[("rule", "span_target")]["mean"]) == pytest.approx(sum(spans) / 2, abs=1e-6)
    labels = {r["split"]: r for r in csv.DictReader((run / "labels.csv").open())}
    assert labels["train"]["images"] == "640" and 0 < float(labels["train"]["rule_share"]) < 1
    top = list(csv.DictReader((run / "challenge_eigenvectors.csv").open()))
    assert len(top) == 4 * 3
    for first in range(0, 12, 3):  # each model's 3 top eigenvalues, largest first
        values = [float(t["eigenvalue"]) for t in top[first : first + 3]]
        assert (
            values == sorted(values, reverse=True)
            and len({(t["condition"], t["seed"]) for t in top[first : first + 3]}) == 1
        )
    tensors = load_file(str(run / "challenge.safetensors"))
    assert tensors["target"].shape == (784,) and tensors["rule"].shape == tensors["shuffled"].shape == (2, 3, 784)
    for name in ("challenge_eigenvectors", "challenge_scores"):
        assert (run / "figures" / f"{name}.html").is_file(), name
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete"
    cache = sorted(p.name for p in (tmp_path / "outputs" / "cache").iterdir() if p.is_dir())
    assert sum("-rule3-0.6-d8" in n for n in cache) == 2 and sum("-shuffled" in n for n in cache) == 2
    # a rule model's own data: the report's explorer and decompose run= read its two labels, not the ten digits
    entry = next(p for p in (tmp_path / "outputs" / "cache").iterdir() if p.is_dir() and "-rule3-0.6-d8" in p.name)
    data = data_of_run(entry, tiny_root)
    assert data.classes == CLASSES and set(data.test_y.tolist()) <= {0, 1}
    page = explorer_data(entry, data.test_x, data.test_y)
    assert page.classes == list(CLASSES) and set(page.labels.tolist()) == {0, 1}
    decomposed = bilin_cli("decompose", f"run={entry}", "device=cpu", "quiet=true")
    assert decomposed.returncode == 0, decomposed.stderr
    spectrum = list(csv.DictReader(next((tmp_path / "outputs" / "decompose").glob("*/*/spectrum.csv")).open()))
    assert {r["class"] for r in spectrum} == set(CLASSES)
    panel = bilin_cli("decompose", f"run={entry}", "device=cpu", "quiet=true", "panel=true")
    assert panel.returncode == 2 and len(panel.stderr.strip().splitlines()) == 1, panel.stderr
    assert "panel=true draws the classes of MNIST beside Fashion-MNIST" in panel.stderr

    again = bilin_cli("challenge", *RUN, "components=3", "threshold=0.6")  # every model is now a cache hit
    assert again.returncode == 0, again.stderr
    second = json.loads((sorted((tmp_path / "outputs" / "challenge").glob("*/*"))[-1] / "run.json").read_text())
    assert record["cache_hits"] == 0 and second["cache_hits"] == 4 and len(second["models"]) == 4
