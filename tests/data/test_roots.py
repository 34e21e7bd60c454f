"""Where the data is found: one rule (bilin/data/roots.py) for every command, the Makefile and the docs."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from bilin.data import load_dataset, roots
from bilin.data.datasets import DATASETS, download_error
from bilin.errors import UserError
from bilin.settings.options import DataConfig
from tests.conftest import REPO, write_dataset


@pytest.fixture
def nowhere(tmp_path, monkeypatch) -> Path:
    """A working folder outside any checkout, BILIN_DATA unset, and no source checkout to search."""
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(roots.ENV_VAR, raising=False)
    monkeypatch.setattr(roots, "source_checkout", lambda: None)
    return work


def holds_mnist(folder: Path) -> bool:
    return (folder / "MNIST" / "raw").is_dir()


def test_the_search_order_is_data_then_shared_data(nowhere):
    (nowhere.parent / "shared" / "data" / "MNIST" / "raw").mkdir(parents=True)
    choice = roots.choose_root(None, holds_mnist)
    assert choice.path == nowhere.parent / "shared" / "data" and choice.reason == "found"
    (nowhere / "data" / "MNIST" / "raw").mkdir(parents=True)
    assert roots.choose_root(None, holds_mnist).path == nowhere / "data"


def test_data_root_and_bilin_data_win_over_the_search(nowhere, monkeypatch):
    (nowhere / "data" / "MNIST" / "raw").mkdir(parents=True)
    monkeypatch.setenv(roots.ENV_VAR, "/elsewhere")
    assert roots.choose_root(None, holds_mnist) == roots.RootChoice(Path("/elsewhere"), "BILIN_DATA")
    assert roots.choose_root("/given", holds_mnist).path == Path("/given")
    monkeypatch.setenv(roots.ENV_VAR, "")  # empty is unset
    assert roots.choose_root(None, holds_mnist).path == nowhere / "data"


def test_the_search_also_looks_beside_the_source_checkout(nowhere, monkeypatch):
    monkeypatch.setattr(roots, "source_checkout", lambda: nowhere.parent / "checkout")
    folders = roots.search_folders()
    assert folders == (
        nowhere / "data",
        nowhere.parent / "shared" / "data",
        nowhere.parent / "checkout" / "data",
    )  # checkout/../shared/data is the cwd's already: listed once


def test_found_by_the_search_and_recorded(nowhere):
    write_dataset(nowhere.parent / "shared" / "data", "MNIST")
    ds = load_dataset("mnist", None, download=False)
    assert ds.root == nowhere.parent / "shared" / "data"
    assert ds.provenance() == {"root": str(ds.root), "sha256": ds.fingerprint}
    assert len(ds.fingerprint) == 64 and load_dataset("mnist", ds.root).fingerprint == ds.fingerprint


def test_nothing_found_and_no_download_leaves_no_folder_and_says_how(nowhere, monkeypatch):
    attempts = []

    def offline(root: str, train: bool, download: bool) -> None:  # as torchvision does: folder first
        attempts.append(root)
        (Path(root) / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
        raise RuntimeError(
            "Error downloading train-images-idx3-ubyte.gz:\nTried https://ossci-datasets.s3.amazonaws.com/mnist/, "
            "got:\n<urlopen error [Errno -2] Name or service not known>\n"
        )

    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], downloader=offline))
    with pytest.raises(UserError) as err:
        load_dataset("mnist", None, download=True)
    message = str(err.value)
    assert attempts == [str(nowhere / "data")]  # downloads go to ./data
    assert not (nowhere / "data").exists()  # no empty data/MNIST/raw left behind
    assert "\n" not in message
    assert str(nowhere / "data") in message and str(nowhere.parent / "shared" / "data") in message
    assert "BILIN_DATA (unset)" in message and "set BILIN_DATA=<folder holding MNIST/raw/>" in message
    assert "(urlopen error [Errno -2] Name or service not known)" in message


def test_a_failed_download_keeps_folders_that_were_there(tmp_path, monkeypatch):
    (tmp_path / "MNIST").mkdir()

    def offline(root: str, train: bool, download: bool) -> None:
        (Path(root) / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
        raise OSError("network is unreachable")

    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], downloader=offline))
    with pytest.raises(UserError, match=r"data.root=.*\(network is unreachable\)"):
        load_dataset("mnist", tmp_path)
    assert (tmp_path / "MNIST").is_dir() and not (tmp_path / "MNIST" / "raw").exists()


def test_a_long_download_error_is_cut_at_a_word():
    text = download_error(RuntimeError("first line\n" + "word " * 100))
    assert text.endswith("word ...") and len(text) <= 170
    assert download_error(RuntimeError("")) == "RuntimeError"


def test_the_rule_is_documented_where_users_look():
    """--help (data.root), the README and the Makefile say the same rule as the code."""
    help_line = next(f.metadata["bilin"].help for f in dataclasses.fields(DataConfig) if f.name == "root")
    readme = (REPO / "README.md").read_text()
    for part in (roots.ENV_VAR, *roots.SEARCH):
        assert part in help_line and part in readme, part
    makefile = (REPO / "Makefile").read_text()
    assert "BILIN_DATA" not in makefile.replace("BILIN_DATA if set", ""), "the Makefile must not set its own rule"


@pytest.mark.skipif(not (REPO.parent / "shared" / "data").is_dir(), reason="needs ../shared/data beside the checkout")
def test_the_checkout_finds_the_shared_data_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(roots.ENV_VAR, raising=False)
    choice = roots.choose_root(None, holds_mnist)
    assert choice.reason == "found" and choice.path == Path(os.path.normpath(REPO.parent / "shared" / "data"))
