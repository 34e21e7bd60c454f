"""`bilin train` end to end through the installed console script."""

import csv
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import bilin
from bilin.data import load_dataset
from bilin.running.static_images import image_problem
from tests.conftest import SHARED_DATA, TINY_ARGS, only_run_dir

pytestmark = pytest.mark.slow  # each test trains or renders through the CLI


def test_train_writes_a_complete_run_folder(bilin_cli, tmp_path, tiny_root):
    result = bilin_cli("train", "model=bilinear", "data=mnist", *TINY_ARGS, "lr=1e-2")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "train")
    assert run.parent.name.count("-") == 2 and run.name.count("-") == 2  # DATE/HH-MM-SS
    for name in (
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
        "metrics.csv",
        "per_class.csv",
        "model.safetensors",
        "model.json",
        "run.json",
        "checkpoint.pt",
        "figures/training_curves.html",
        "figures/per_class_accuracy.html",
    ):
        assert (run / name).is_file(), name

    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    per_class = list(csv.DictReader((run / "per_class.csv").open()))
    assert [r["class"] for r in per_class] == [str(i) for i in range(10)]

    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["epochs_completed"] == 2
    for key in ("torch", "python", "device", "git_commit", "wall_seconds", "started", "finished"):
        assert key in record, key
    assert record["final"]["val_acc"] == pytest.approx(float(rows[-1]["val_acc"]))

    model = bilin.load_model(run)
    assert not model.training
    data = load_dataset("mnist", tiny_root, download=False)
    with torch.no_grad():
        accuracy = (model(data.test_x.float() / 255).argmax(-1) == data.test_y).float().mean().item()
    assert accuracy == pytest.approx(record["final"]["val_acc"])
    spec = json.loads((run / "model.json").read_text())
    assert spec["parameters"]["bilinear.weight"] == [32, 16]
    assert set(load_file(str(run / "model.safetensors"))) == {"embed.weight", "bilinear.weight", "head.weight"}


def test_a_train_run_that_fails_before_training_still_records_its_data_and_recipe(bilin_cli, tmp_path, tiny_root):
    """The data read (folder, SHA-256) and the recipe are run.json fields known before any epoch: a run that
    fails later (here: the model cannot fit the memory it would need) keeps them."""
    result = bilin_cli("train", *TINY_ARGS, "d_hidden=10000000")
    assert result.returncode == 2 and "of memory" in result.stderr
    record = json.loads((only_run_dir(tmp_path / "outputs" / "train") / "run.json").read_text())
    assert record["status"] == "failed"
    assert record["data"]["mnist"]["root"] == str(tiny_root) and len(record["data"]["mnist"]["sha256"]) == 64
    assert record["recipe"]["d_hidden"] == 10000000 and record["recipe"]["model"] == "bilinear"


@pytest.mark.parametrize("model,params", [("bilinear_relu", "bilinear.weight"), ("relu", "hidden.weight")])
def test_baselines_and_fashion(bilin_cli, tmp_path, model, params):
    result = bilin_cli("train", f"model={model}", "data=fmnist", *TINY_ARGS)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "train")
    assert params in json.loads((run / "model.json").read_text())["parameters"]
    classes = [r["class"] for r in csv.DictReader((run / "per_class.csv").open())]
    assert classes[0] == "t-shirt/top" and classes[9] == "ankle boot"


def test_same_seed_same_weights_across_processes(bilin_cli, tmp_path):
    for folder in ("a", "b"):
        result = bilin_cli("train", *TINY_ARGS, f"hydra.run.dir=runs/{folder}")
        assert result.returncode == 0, result.stderr
    a, b = (load_file(str(tmp_path / "runs" / f / "model.safetensors")) for f in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_multirun_sweeps_seeds_and_sizes(bilin_cli, tmp_path):
    result = bilin_cli("train", "-m", "seed=0,1", "d_hidden=8,16", "epochs=1", "batch_size=64", "quiet=true")
    assert result.returncode == 0, result.stderr
    runs = sorted((tmp_path / "outputs" / "multirun" / "train").glob("*/*/[0-9]*"))
    assert len(runs) == 4
    sizes = sorted(json.loads((r / "model.json").read_text())["d_hidden"] for r in runs)
    assert sizes == [8, 8, 16, 16]
    assert all(json.loads((r / "run.json").read_text())["status"] == "complete" for r in runs)


def test_submitit_local_launcher(bilin_cli, tmp_path):
    result = bilin_cli(
        "train",
        "-m",
        "hydra/launcher=submitit_local",
        "seed=0,1",
        "epochs=1",
        "batch_size=64",
        "d_hidden=8",
        "quiet=true",
    )
    assert result.returncode == 0, result.stderr
    runs = sorted((tmp_path / "outputs" / "multirun" / "train").glob("*/*/[0-9]*"))
    assert [json.loads((r / "run.json").read_text())["status"] for r in runs] == ["complete", "complete"]


def test_cfg_job_prints_the_composed_config(bilin_cli, tmp_path):
    result = bilin_cli("train", "--cfg", "job", "model=bilinear_relu", "seed=3")
    assert result.returncode == 0, result.stderr
    assert "gate: relu" in result.stdout and "seed: 3" in result.stdout
    assert not (tmp_path / "outputs").exists()


def test_help_lists_config_choices(bilin_cli):
    top = bilin_cli("--help")
    assert top.returncode == 0 and "train" in top.stdout
    result = bilin_cli("train", "--help")
    assert result.returncode == 0
    for choice in ("bilinear_relu", "fmnist", "noise=0.5", "d_hidden=512", "submitit"):
        assert choice in result.stdout, choice


def test_figures_without_a_browser_say_how_to_get_png(bilin_cli, tmp_path):
    result = bilin_cli("train", *TINY_ARGS, env={"BILIN_FIGURE_FORMATS": "png,svg", "BROWSER_PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "apt-get install -y chromium" in result.stdout
    run = only_run_dir(tmp_path / "outputs" / "train")
    assert (run / "figures" / "training_curves.html").is_file()
    assert not list((run / "figures").glob("*.png")) and not list((run / "figures").glob("*tmp*"))
    assert "chromium" in json.loads((run / "run.json").read_text())["figures_note"]


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("google-chrome") is None,
    reason="PNG/SVG export needs Chrome/Chromium (.ci/run installs Debian's chromium)",
)
def test_figures_as_png_and_svg_with_a_browser(bilin_cli, tmp_path):
    result = bilin_cli("train", *TINY_ARGS, env={"BILIN_FIGURE_FORMATS": "png,svg"})
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "train")
    for name in ("training_curves", "per_class_accuracy"):
        for fmt in ("png", "svg"):
            assert image_problem((run / "figures" / f"{name}.{fmt}").read_bytes(), fmt) is None, (name, fmt)
    assert not [p.name for p in (run / "figures").iterdir() if p.name.startswith(".")]  # no temporary file
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    log = (run / "train.log").read_text()
    assert "[bilin.train]" in log and "kaleido" not in log and "choreographer" not in log  # bilin's messages only


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs ../shared/data beside the repository")
def test_smoke_one_epoch_on_shipped_data(bilin_cli, tmp_path):
    result = bilin_cli(
        "train",
        "data=fmnist",
        "epochs=1",
        "d_hidden=64",
        "batch_size=256",
        "lr=5e-3",
        "data.train_limit=4096",
        "data.test_limit=1000",
        "quiet=true",
        env={"BILIN_DATA": str(SHARED_DATA)},
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((only_run_dir(tmp_path / "outputs" / "train") / "run.json").read_text())
    assert record["status"] == "complete" and record["final"]["val_acc"] > 0.5


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("google-chrome") is None,
    reason="PNG/SVG export needs Chrome/Chromium (.ci/run installs Debian's chromium)",
)
def test_export_figures_later_clears_the_runs_figures_note(bilin_cli, tmp_path):
    no_browser = {"BILIN_FIGURE_FORMATS": "png", "BROWSER_PATH": "/nonexistent"}
    assert bilin_cli("train", *TINY_ARGS, "hydra.run.dir=run", env=no_browser).returncode == 0
    assert "figures_note" in json.loads((tmp_path / "run" / "run.json").read_text())
    exported = bilin_cli("export-figures", "run", env={"BILIN_FIGURE_FORMATS": "png"})
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "run" / "figures" / "training_curves.png").is_file()
    assert "figures_note" not in json.loads((tmp_path / "run" / "run.json").read_text())
