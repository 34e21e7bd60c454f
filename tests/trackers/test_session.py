"""What a run hands its trackers, driven through the real lifecycle in-process: a tracker that fails
mid-run is set aside (the work completes, then one line and exit 2), a resumed run continues its MLflow
run, and the files a run gives as artifacts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from bilin.errors import Interrupted
from bilin.running.command import Command, CommandResult
from bilin.running.lifecycle import execute
from bilin.trackers.session import run_files
from bilin.trackers.settings import TrackerSettings

NOLOAD = "ignore:The ``noload`` loader strategy is deprecated"  # MLflow's sqlite store under SQLAlchemy 2.1


@dataclass
class Config(TrackerSettings):
    quiet: bool = True
    device: str = "cpu"
    outputs_root: str = "outputs"
    logger: list = field(default_factory=list)


def command(main) -> Command:
    return Command(name="fake", summary="logs two epochs", main=main)


def test_a_tracker_that_fails_mid_run_is_set_aside_and_said_in_one_line_at_the_end(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboard")
    from bilin.trackers.tensorboard_log import TensorBoardLog

    def full_disk(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TensorBoardLog, "log_metrics", full_disk)

    def main(_cfg, ctx):
        for epoch in (1, 2):
            ctx.log_metrics(epoch, {"val_acc": 0.5})
        return CommandResult(tables={"metrics.csv": [{"epoch": 1, "val_acc": 0.5}]})

    folder = tmp_path / "run"
    folder.mkdir()
    with pytest.raises(SystemExit) as ended:
        execute(command(main), Config(logger=["tensorboard"], outputs_root=str(tmp_path)), folder)
    assert ended.value.code == 2
    line = "bilin: error: logger=tensorboard stopped logging at step 1: [Errno 28] No space left on device"
    assert capsys.readouterr().err.strip() == f"{line} (the run folder holds everything)"
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "complete" and (folder / "metrics.csv").is_file()
    assert record["tracker_errors"] == {"tensorboard": line.removeprefix("bilin: error: ")}


@pytest.mark.filterwarnings(NOLOAD)
def test_a_continued_run_logs_into_its_own_mlflow_run_again(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def first(_cfg, ctx):
        ctx.log_metrics(1, {"val_acc": 0.25})
        raise Interrupted("stopped by SIGINT", "SIGINT")

    def rest(_cfg, ctx):
        ctx.log_metrics(2, {"val_acc": 0.75})
        return CommandResult(headline={"val_acc.mnist(+noise)": 0.75})  # a name MLflow would refuse as it is

    folder = tmp_path / "run"
    folder.mkdir()
    settings = {"logger": ["mlflow"], "outputs_root": str(tmp_path)}
    with pytest.raises(SystemExit):
        execute(command(first), Config(**settings), folder)
    run_id = json.loads((folder / "run.json").read_text())["trackers"]["mlflow"]["run_id"]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert client.get_run(run_id).info.status == "KILLED"
    execute(command(rest), Config(**settings, quiet=False), folder, continuing=True)  # a param may change on resume
    assert json.loads((folder / "run.json").read_text())["trackers"]["mlflow"]["run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["quiet"] == "true"  # as first logged
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val_acc")] == [(1, 0.25), (2, 0.75)]
    assert run.data.metrics["headline/val_acc.mnist__noise_"] == 0.75
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_the_artifacts_are_the_figures_csvs_run_record_and_config(tmp_path):
    for name in (
        "metrics.csv",
        "run.json",
        "model.safetensors",
        "figures/curves.html",
        "figures/curves.png",
        "figures/curves.svg",
        "figures/curves.json",
        "figures/plotly.min.js",
        "tensorboard/scalars.csv",
        ".hydra/config.yaml",
        ".hydra/hydra.yaml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    found = {(path.relative_to(tmp_path).as_posix(), where) for path, where in run_files(tmp_path)}
    assert found == {
        ("metrics.csv", ""),
        ("figures/curves.html", "figures"),
        ("figures/curves.png", "figures"),
        ("figures/curves.svg", "figures"),
        ("run.json", ""),
        (".hydra/config.yaml", ""),
    }
