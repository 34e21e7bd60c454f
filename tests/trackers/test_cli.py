"""logger=[tensorboard,mlflow] end to end: one train run and one grid (truncate), read back through each
library's own reader (TensorBoard's EventAccumulator, MLflow's client) and compared with the CSVs the
run folder and the cache entries hold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import TINY_ARGS, run_bilin

pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

# MLflow's sqlite store under SQLAlchemy 2.1 warns of its own use of noload
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")]
LOGGERS = "logger=[tensorboard,mlflow]"


def rows(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def work(tmp_path_factory, tiny_root) -> dict[str, Path]:
    """One train run and one 1 x 2 grid, both logged to both trackers (one MLflow store in outputs/)."""
    where = tmp_path_factory.mktemp("trackers")
    env = {"BILIN_DATA": str(tiny_root)}
    grid = ["sizes=[8]", "seeds=[0,1]", "k_max=4", *[a for a in TINY_ARGS if not a.startswith("d_hidden")]]
    runs = {"train": ["train", *TINY_ARGS], "grid": ["truncate", *grid]}
    for name, args in runs.items():
        done = run_bilin([*args, LOGGERS, f"hydra.run.dir={where / name}"], where, env)
        assert done.returncode == 0, done.stderr
        assert "Creating initial MLflow database" not in done.stderr  # the store's set-up lines are kept quiet
    return {"train": where / "train", "grid": where / "grid", "store": where / "outputs" / "mlflow.db", "cwd": where}


def grid_models(work) -> dict[str, Path]:
    """The grid's cache entries, as its run.json names them (relative to the folder it ran in)."""
    models = json.loads((work["grid"] / "run.json").read_text())["models"]
    return {name: work["cwd"] / path for name, path in models.items()}


@pytest.fixture(scope="module")
def client(work) -> MlflowClient:
    return MlflowClient(f"sqlite:///{work['store']}")


def scalars(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return events


def assert_same_history(read: dict[str, list[tuple[int, float]]], csv_rows: list[dict[str, float]], rel: float):
    """Every column of metrics.csv, epoch by epoch, as the tracker holds it."""
    for column in (c for c in csv_rows[0] if c != "epoch"):
        expected = [(int(r["epoch"]), r[column]) for r in csv_rows]
        got = sorted(read[column])
        assert [s for s, _ in got] == [s for s, _ in expected], column
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=rel), column


def test_train_tensorboard_holds_metrics_csv(work):
    events = scalars(work["train"] / "tensorboard")
    history = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    expected = rows(work["train"] / "metrics.csv")
    assert_same_history(history, expected, rel=1e-6)  # event files hold float32
    assert history["final/val_acc"][0][1] == pytest.approx(expected[-1]["val_acc"], rel=1e-6)
    assert "config" in {t.split("/")[0] for t in events.Tags()["tensors"]}  # the config as text


def test_train_mlflow_run_holds_metrics_csv_config_and_files(work, client):
    record = json.loads((work["train"] / "run.json").read_text())
    run = client.get_run(record["trackers"]["mlflow"]["run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "bilin-train"
    assert run.data.tags["bilin.run_folder"] == str(work["train"])
    assert run.data.params["d_hidden"] == "16" and run.data.params["model.name"] == "bilinear"
    assert run.data.params["logger"] == "[tensorboard,mlflow]"
    expected = rows(work["train"] / "metrics.csv")
    history = {
        name: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, name)]
        for name in expected[0]
        if name != "epoch"
    }
    assert_same_history(history, expected, rel=0)  # exactly the CSV's numbers
    assert run.data.metrics["final/val_acc"] == expected[-1]["val_acc"]
    assert run.data.metrics["headline/val_acc"] == record["headline"]["val_acc"]
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"metrics.csv", "per_class.csv", "run.json", "config.yaml", "figures"} <= files
    figures = {f.path for f in client.list_artifacts(run.info.run_id, "figures")}
    assert {"figures/training_curves.html", "figures/per_class_accuracy.html"} <= figures


def test_grid_is_a_tensorboard_folder_per_model(work):
    models = grid_models(work)
    assert len(models) == 2
    folders = {p.name for p in (work["grid"] / "tensorboard").iterdir() if p.is_dir()}
    assert folders == set(models)
    for name, entry in models.items():
        events = scalars(work["grid"] / "tensorboard" / name)
        history = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
        assert_same_history(history, rows(entry / "metrics.csv"), rel=1e-6)


def test_grid_is_an_mlflow_parent_run_with_a_child_per_model(work, client):
    record = json.loads((work["grid"] / "run.json").read_text())
    parent = client.get_run(record["trackers"]["mlflow"]["run_id"])
    assert parent.info.status == "FINISHED" and parent.data.params["sizes"] == "[8]"
    assert {"truncation.csv", "run.json", "config.yaml"} <= {f.path for f in client.list_artifacts(parent.info.run_id)}
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    models = grid_models(work)
    assert sorted(c.info.run_name for c in children) == sorted(models)
    for child in children:
        entry = models[child.info.run_name]
        assert child.data.tags["bilin.cache_entry"] == str(entry)
        assert child.data.tags["bilin.model_source"] == "trained"
        assert child.data.params["seed"] == str(json.loads((entry / "recipe.json").read_text())["seed"])
        expected = rows(entry / "metrics.csv")
        history = {
            name: [(m.step, m.value) for m in client.get_metric_history(child.info.run_id, name)]
            for name in expected[0]
            if name != "epoch"
        }
        assert_same_history(history, expected, rel=0)
        assert {"metrics.csv", "recipe.json"} <= {f.path for f in client.list_artifacts(child.info.run_id)}
