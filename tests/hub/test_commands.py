"""import-hub and export-hub through the run lifecycle (in-process), the round trips, and two CLI runs: an
analysis of the imported run, and the hub's one-line error when it cannot be reached."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bilin.commands import export_hub, import_hub
from bilin.models.checkpoint import load_model, save_model
from bilin.models.networks import ModelSpec, build_model
from bilin.running.folder import RunDir, verified_bytes
from bilin.running.lifecycle import execute
from bilin.settings.options import DataConfig
from tests.conftest import run_bilin
from tests.hub.authors import authors_config, write_authors_model

X = torch.rand(16, 784, generator=torch.Generator().manual_seed(0))


def imported(source: Path, folder: Path, data: str = "mnist", root: Path | None = None, **keys) -> Path:
    """import-hub into `folder`; with `root` (the tiny data) its accuracy check too."""
    folder.mkdir(parents=True)
    data_group = DataConfig(data, root=str(root) if root else None, download=False)
    cfg = import_hub.ImportHubConfig(
        source=str(source), device="cpu", quiet=True, data=data_group, evaluate=root is not None, **keys
    )
    execute(import_hub.COMMAND, cfg, folder)
    return folder


def exported(run: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True)
    execute(export_hub.COMMAND, export_hub.ExportHubConfig(run=str(run), name=name, device="cpu", quiet=True), folder)
    return folder / name


@pytest.fixture(scope="module")
def authors_repo(tmp_path_factory) -> Path:
    """A repo folder holding one biased model (a nonzero bias) of the authors' layout."""
    repo = tmp_path_factory.mktemp("repo")
    theirs = write_authors_model(repo, "mnist-d8", authors_config(8, bias=True, seed=5))
    with torch.no_grad():
        theirs.blocks[0].bias.normal_(generator=torch.Generator().manual_seed(1))
    write_authors_model(repo, "mnist-d8", authors_config(8, bias=True, seed=5), theirs)
    return repo


@pytest.fixture(scope="module")
def imported_run(authors_repo, tmp_path_factory, tiny_root) -> Path:
    return imported(authors_repo, tmp_path_factory.mktemp("import") / "run", root=tiny_root, name="mnist-d8")


def test_an_imported_run_is_complete_verified_and_records_where_it_came_from(imported_run, authors_repo):
    record = json.loads((imported_run / "run.json").read_text())
    assert record["status"] == "complete" and 0 <= record["headline"]["val_acc"] <= 1 and "mnist" in record["data"]
    source = authors_repo / "mnist-d8"
    files = {f: hashlib.sha256((source / f).read_bytes()).hexdigest() for f in ("config.json", "model.safetensors")}
    assert record["imported"]["sha256"] == files and record["imported"]["name"] == "mnist-d8"
    spec = json.loads(verified_bytes(imported_run / "model.json"))  # its SHA-256 is in checksums.json
    assert spec["dataset"] == "mnist" and spec["imported"]["config"] == authors_config(8, bias=True, seed=5)
    verified_bytes(imported_run / "model.safetensors")


def test_the_layout_round_trips_through_bilin_with_identical_files_and_logits(imported_run, authors_repo, tmp_path):
    """the layout -> a bilin run -> the layout -> a bilin run: config.json byte for byte, the same tensors."""
    back = exported(imported_run, tmp_path / "export", "mnist-d8")
    original = authors_repo / "mnist-d8"
    assert (back / "config.json").read_text() == (original / "config.json").read_text()
    theirs, ours = load_file(str(original / "model.safetensors")), load_file(str(back / "model.safetensors"))
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)
    again = imported(back.parent, tmp_path / "again", name="mnist-d8")
    with torch.no_grad():
        assert torch.equal(load_model(again)(X), load_model(imported_run)(X))


def test_a_bilin_run_round_trips_through_the_layout(tmp_path):
    """bilin -> the layout -> bilin: the same state dict and logits; what the run does not record is null."""
    spec = ModelSpec("bilinear", 784, 8, 10)
    model = build_model(spec, torch.Generator().manual_seed(2)).eval()
    run = RunDir(tmp_path / "train")
    save_model(run, model, spec, {"dataset": "mnist"})
    run.write_json("run.json", {"status": "complete"})
    folder = exported(run.path, tmp_path / "export", "mine")
    config = json.loads((folder / "config.json").read_text())
    assert config == authors_config(8, lr=None, wd=None, epochs=None, batch_size=None, seed=0)
    back = load_model(imported(folder, tmp_path / "back"))
    assert all(torch.equal(back.state_dict()[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert torch.equal(back(X), model(X))


def test_a_mapped_state_dict_imports_as_a_run(tmp_path):
    w = {"enc": torch.randn(8, 784), "l": torch.randn(8, 8), "r": torch.randn(8, 8), "out": torch.randn(10, 8)}
    torch.save(w, tmp_path / "mine.pt")
    (tmp_path / "keys.yaml").write_text("embed: enc\nleft: l\nright: r\nhead: out\n")
    run = imported(tmp_path / "mine.pt", tmp_path / "run", mapping=str(tmp_path / "keys.yaml"), data="fmnist")
    model = load_model(run)
    assert torch.equal(model.bilinear.weight, torch.cat([w["l"], w["r"]]))
    assert json.loads((run / "model.json").read_text())["dataset"] == "fmnist"


@pytest.mark.slow
def test_decompose_reads_an_imported_run(imported_run, tiny_root, tmp_path):
    result = run_bilin(["decompose", f"run={imported_run}", "quiet=true"], tmp_path, {"BILIN_DATA": str(tiny_root)})
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "outputs" / "decompose").glob("*/*")
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    eigen = load_file(str(run / "eigen.safetensors"))
    assert next(iter(eigen.values())).shape[0] == 10  # a value per class


@pytest.mark.slow
def test_an_unreachable_hub_is_one_line(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = run_bilin(["import-hub", "source=someone/mnist-models", "name=m", "quiet=true"], tmp_path, env)
    assert result.returncode == 2
    line = "bilin: error: the hub repo someone/mnist-models cannot be reached (offline, or no network)"
    assert result.stderr.startswith(line) and result.stderr.count("\n") == 1, result.stderr
