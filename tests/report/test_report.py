"""`bilin report` and `bilin.runs()` end to end on a real outputs/ tree, and the explorer's numbers."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pandas as pd
import pytest
import torch

import bilin
from bilin.analysis.decompose import eigendecompose
from bilin.analysis.truncate import truncated_logits
from bilin.report.explorer import explorer_data, truncated_and_full
from bilin.report.runs import flatten, varying_keys
from tests.conftest import run_bilin
from tests.report.conftest import D_HIDDEN, record

pytestmark = pytest.mark.slow


def test_runs_dataframe_has_one_row_per_run_with_flat_config(report_tree):
    table = bilin.runs(report_tree.outputs)
    assert isinstance(table, pd.DataFrame)
    paths = {str(p) for p in [report_tree.single, *report_tree.sweep_jobs, report_tree.single.parent / "damaged"]}
    assert set(table["path"]) == paths
    single = table.set_index("path").loc[str(report_tree.single)]
    assert single["command"] == "train" and single["status"] == "complete"
    assert single["config.d_hidden"] == D_HIDDEN and single["config.data.name"] == "mnist"
    assert single["metric.val_acc"] == pytest.approx(record(report_tree.single)["final"]["val_acc"])
    jobs = table[table["sweep"] != ""]
    assert sorted(jobs["config.seed"]) == [1, 2]
    assert (table.set_index("path").loc[str(report_tree.single.parent / "damaged"), "status"]) == "unreadable"


def test_runs_csv_is_the_same_table(report_tree, monkeypatch):
    with (report_tree.report / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    monkeypatch.chdir(report_tree.cwd)
    table = bilin.runs("outputs")
    assert [r["path"] for r in rows] == list(table["path"])
    assert set(rows[0]) == set(table.columns)


def test_index_lists_every_run_with_its_page(report_tree):
    index = (report_tree.report / "index.html").read_text()
    body = index.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr") == 4  # single, two sweep jobs, damaged
    for href in re.findall(r'href="(runs/[^"]+)"', body):
        assert (report_tree.report / href).is_file(), href
    val_acc = record(report_tree.single)["final"]["val_acc"]
    assert f"val_acc={val_acc:.4g}" in body
    assert "unreadable" in body


def test_run_page_shows_figures_tables_config_and_explorer(report_tree):
    pages = list((report_tree.report / "runs").glob("*.html"))
    page = next(p for p in pages if p.name.endswith(report_tree.single.name + ".html") and "multirun" not in p.name)
    text = page.read_text()
    for name in ("training_curves.html", "per_class_accuracy.html", "metrics.csv", "Config", "run.json"):
        assert name in text
    explorer = re.search(r'href="(\.\./explorer/[^"]+\.html)"', text)
    assert explorer and (page.parent / explorer.group(1)).resolve().is_file()
    for src in re.findall(r'(?:src|href)="(\.\./[^"#]+)"', text):  # every relative link resolves
        assert (page.parent / src.replace("%20", " ")).resolve().exists(), src


def test_sweep_page_tables_its_jobs_and_plots_each_metric_against_the_swept_key(report_tree):
    pages = list((report_tree.report / "sweeps").glob("*.html"))
    assert len(pages) == 1
    text = pages[0].read_text()
    assert "swept keys: <code>seed</code>" in text
    plots = re.findall(r'<script type="application/json" class="figure" data-target="[^"]+">(.*?)</script>', text)
    titles = {json.loads(p)["layout"]["title"]["text"] for p in plots}
    assert {"val_acc against seed", "val_loss against seed"} <= titles
    job_values = {record(j)["final"]["val_acc"] for j in report_tree.sweep_jobs}
    plotted = next(json.loads(p) for p in plots if "val_acc against" in json.loads(p)["layout"]["title"]["text"])
    assert set(plotted["data"][0]["y"]) == job_values
    rows = list(csv.DictReader(pages[0].with_suffix(".csv").open()))
    assert sorted(float(r["metric.val_acc"]) for r in rows) == sorted(job_values)


def test_report_again_reuses_explorers_and_says_so(report_tree):
    again = run_bilin(["report"], report_tree.cwd, {"BILIN_DATA": str(report_tree.data)})
    assert again.returncode == 0, again.stderr
    assert "(0 rebuilt)" in again.stdout
    assert "4 runs, 1 sweeps" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(["nowhere"], "nowhere is not a folder"), (["empty"], "no bilin runs")],
)
def test_report_refuses_what_it_cannot_read(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    result = run_bilin(["report", *args], tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_explorer_numbers_are_the_models(report_tree):
    """Top-k sums use the oriented top components; k = d and the weights path give the logits."""
    from bilin.data import load_dataset
    from bilin.models.checkpoint import load_model

    ds = load_dataset("mnist", report_tree.data, download=False)
    data = explorer_data(report_tree.single, ds.test_x, ds.test_y)
    model = load_model(report_tree.single)
    x = ds.test_x.flatten(1).float() / 255
    k = data.top_values.shape[1]
    assert k == 32 < D_HIDDEN
    for c in range(len(data.classes)):  # oriented: the class's test images project positively on average
        assert ((data.top_vectors[c] @ x[ds.test_y == c].T).mean(1) > 0).all()
    with torch.no_grad():
        expected = model(x[:20]).double()
    reference = truncated_logits(eigendecompose(model), x[:20], k).double()
    for i in range(20):
        top, full = truncated_and_full(data, x[i])
        assert torch.allclose(full, expected[i], atol=1e-3, rtol=1e-3)  # float16 weights
        assert torch.allclose(top[-1], reference[i], atol=1e-3, rtol=1e-3)


def test_flatten_and_varying_keys():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": "[1, 2]", "d": None}
    from bilin.report.runs import Run

    runs = [Run(path=None, command="train", status="complete", config={"a": 1, "b": i}) for i in range(3)]
    assert varying_keys(runs) == ["b"]


def test_pages_of_runs_that_are_gone_are_removed(report_tree, tmp_path):
    outputs = tmp_path / "outputs"
    shutil.copytree(report_tree.outputs, outputs, ignore=shutil.ignore_patterns("report"))
    first = run_bilin(["report", "--no-explorers"], tmp_path)
    assert first.returncode == 0, first.stderr
    pages = sorted((outputs / "report" / "runs").glob("*.html"))
    shutil.rmtree(outputs / "train" / report_tree.single.parent.name / "damaged")
    again = run_bilin(["report", "--no-explorers"], tmp_path)
    assert again.returncode == 0, again.stderr
    left = sorted((outputs / "report" / "runs").glob("*.html"))
    assert [p.name for p in pages if p not in left] == [f"train__{report_tree.single.parent.name}__damaged.html"]
    assert "damaged" not in (outputs / "report" / "index.html").read_text()
