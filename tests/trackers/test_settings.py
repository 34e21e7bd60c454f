"""The logger= keys: what they accept, and each mistake as one line before any work."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from bilin.errors import UserError
from bilin.trackers import settings as tracker_settings
from bilin.trackers.settings import TrackerSettings, local_store


@pytest.mark.parametrize(
    ("given", "chosen"),
    [
        ([], ()),
        (None, ()),
        ("csv", ()),  # the run folder's own metrics.csv: always written, nothing more to do
        ("mlflow", ("mlflow",)),
        (["tensorboard", "mlflow"], ("tensorboard", "mlflow")),
        (["csv", "tensorboard"], ("tensorboard",)),
    ],
)
def test_logger_takes_one_name_or_a_list(given, chosen):
    assert TrackerSettings(logger=given).trackers() == chosen


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (TrackerSettings(logger="wandb"), "logger: 'wandb' is not one of csv, tensorboard, mlflow"),
        (TrackerSettings(logger=["mlflow", "mlflow"]), "logger=[mlflow,mlflow] gives mlflow twice"),
        (TrackerSettings(logger=3), "logger=3: give tracker names"),
        (TrackerSettings(logger=[["mlflow"]]), "give tracker names"),
        (TrackerSettings(mlflow_uri="http://host:5000"), "mlflow_uri= is for logger=mlflow"),
        (TrackerSettings(logger="tensorboard", mlflow_experiment="x"), "mlflow_experiment= is for logger=mlflow"),
    ],
)
def test_a_mistaken_logger_key_is_one_line(settings, line, tmp_path):
    with pytest.raises(UserError, match=line.replace("[", r"\[").replace("]", r"\]")):
        settings.check_trackers(str(tmp_path))


def test_a_missing_library_is_named_with_its_install_line(monkeypatch, tmp_path):
    real = tracker_settings.importlib.util.find_spec
    monkeypatch.setattr(
        tracker_settings.importlib.util, "find_spec", lambda name: None if name == "tensorboard" else real(name)
    )
    with pytest.raises(
        UserError, match=r"logger=tensorboard needs tensorboard, not installed: pip install 'bilin\[trackers\]'"
    ):
        TrackerSettings(logger=["mlflow", "tensorboard"]).check_trackers(str(tmp_path))


def test_an_mlflow_server_that_does_not_answer_is_refused_before_the_run(tmp_path):
    with socket.socket() as free:  # a port nothing listens on once closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    settings = TrackerSettings(logger="mlflow", mlflow_uri=f"http://127.0.0.1:{port}")
    with pytest.raises(UserError, match=f"no MLflow server answers at 127.0.0.1:{port}"):
        settings.check_trackers(str(tmp_path))


def test_the_default_store_is_a_sqlite_file_in_the_outputs_root_unless_mlflow_is_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = TrackerSettings(logger="mlflow").tracking_uri(str(tmp_path))
    assert uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert TrackerSettings(logger="mlflow").check_trackers(str(tmp_path)) == str(tmp_path)  # for check_writable
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    assert TrackerSettings(logger="mlflow").tracking_uri(str(tmp_path)) == "http://elsewhere:5000"
    assert TrackerSettings(mlflow_uri="sqlite:///db/x.db").tracking_uri(str(tmp_path)) == "sqlite:///db/x.db"


def test_local_stores_are_told_from_servers():
    assert local_store("sqlite:////abs/runs/mlflow.db") == "/abs/runs"
    assert local_store("sqlite:///rel/mlflow.db") == "rel"
    assert local_store("file:///abs/mlruns") == "/abs/mlruns"
    assert local_store("http://host:5000") is None
    assert local_store("databricks") is None


def test_the_commands_check_the_keys_and_load_no_tracker_library(tmp_path):
    """train and a grid command refuse a bad logger= at the option check; checking a good one (and --help)
    imports neither tensorboard nor mlflow, nor torch; the run's lifecycle imports them only when logging."""
    code = """
import sys
from bilin.cli.app import app
from bilin.cli.hydra_app import _validate, register
from bilin.commands import commands
from bilin.errors import UserError
found = {c.name: c for c in commands()}
for name in ("train", "truncate"):
    register(found[name])
    _validate(found[name], ["logger=[tensorboard,mlflow]"], False)
    try:
        _validate(found[name], ["logger=wandb"], False)
    except UserError as exc:
        print(exc)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("mlflow", "tensorboard", "torch")))
import bilin.running.lifecycle  # a run without logger= (torch, but no tracker library)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("mlflow", "tensorboard")))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["logger: 'wandb' is not one of csv, tensorboard, mlflow"] * 2 + ["[]"] * 2
