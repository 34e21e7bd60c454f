import dataclasses

import numpy as np
import pytest
import torch

from bilin.data import load_dataset
from bilin.data.datasets import DATASETS
from bilin.errors import UserError
from tests.conftest import SHARED_DATA, synthetic_images


def test_reads_gzipped_and_plain_layouts(tiny_root):
    mnist = load_dataset("mnist", tiny_root, download=False)  # gzipped files
    fashion = load_dataset("fmnist", tiny_root, download=False)  # uncompressed files
    for ds in (mnist, fashion):
        assert ds.train_x.shape == (640, 1, 28, 28) and ds.train_x.dtype == torch.uint8
        assert ds.test_x.shape == (200, 1, 28, 28) and ds.test_y.dtype == torch.int64
    images, labels = synthetic_images(640, 0)
    np.testing.assert_array_equal(mnist.train_x[:, 0].numpy(), images)
    np.testing.assert_array_equal(mnist.train_y.numpy(), labels)
    assert fashion.classes[6] == "shirt" and len(fashion.classes) == 10


def test_limits_take_a_prefix(tiny_root):
    ds = load_dataset("mnist", tiny_root, download=False, train_limit=100, test_limit=10)
    assert len(ds.train_x) == 100 and len(ds.test_y) == 10


def test_missing_files_listed_with_their_folder(tmp_path):
    with pytest.raises(UserError) as err:
        load_dataset("fmnist", tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message


def test_failed_download_says_what_was_looked_for(tmp_path, monkeypatch):
    calls = []

    def offline(**kwargs):
        calls.append(kwargs)
        raise OSError("network is unreachable")

    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], downloader=offline))
    with pytest.raises(UserError, match="download failed.*network is unreachable") as err:
        load_dataset("mnist", tmp_path, download=True)
    assert calls and calls[0]["download"] is True and calls[0]["root"] == str(tmp_path)
    assert "train-images-idx3-ubyte" in str(err.value)


def test_labels_out_of_range_are_reported(tmp_path):
    from bilin.data.idx import write_idx
    from tests.conftest import write_dataset

    raw = write_dataset(tmp_path, "MNIST")
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.full(200, 12, dtype=np.uint8))
    with pytest.raises(UserError, match="labels outside"):
        load_dataset("mnist", tmp_path, download=False)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs ../shared/data beside the repository")
@pytest.mark.parametrize("name,first_label", [("mnist", 5), ("fmnist", None)])
def test_shipped_data_shapes(name, first_label):
    ds = load_dataset(name, SHARED_DATA, download=False)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.test_y, minlength=10).min() > 800
    if first_label is not None:
        assert ds.train_y[0].item() == first_label  # MNIST's first training digit is a 5
