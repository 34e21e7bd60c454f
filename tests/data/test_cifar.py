"""CIFAR-10 from torchvision's pickled layout, its errors, and the CNN that trains on it."""

import json
import pickle

import pytest
import torch

from bilin.data import load_dataset
from bilin.errors import UserError
from bilin.models.networks import CifarCNN
from tests.conftest import only_run_dir, run_bilin, write_cifar


def test_reads_the_fake_cifar(cifar_root):
    ds = load_dataset("cifar10", cifar_root, download=False)
    assert ds.train_x.shape == (300, 3, 32, 32) and ds.train_x.dtype == torch.uint8
    assert ds.test_x.shape == (100, 3, 32, 32) and ds.classes[0] == "airplane"
    assert ds.train_y.min() >= 0 and ds.train_y.max() <= 9


def test_missing_and_corrupt_batches(tmp_path):
    folder = write_cifar(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(UserError, match="data_batch_3.*cifar-10-batches-py"):
        load_dataset("cifar10", tmp_path, download=False)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="data_batch_3 is not a CIFAR-10 batch file"):
        load_dataset("cifar10", tmp_path, download=False)
    with (folder / "data_batch_3").open("wb") as f:
        pickle.dump({b"data": [[1, 2, 3]], b"labels": [0]}, f)
    with pytest.raises(UserError, match="not N x 3072"):
        load_dataset("cifar10", tmp_path, download=False)


def test_whitening_decorrelates_the_training_colours(cifar_root):
    images = load_dataset("cifar10", cifar_root, download=False).train_x.float() / 255
    model = CifarCNN((3, 32, 32), 16, 10, decorrelate=True)
    model.fit_whitening(images)
    white = torch.einsum("kc,nchw->nkhw", model.colour_whiten, images - model.colour_mean.view(1, 3, 1, 1))
    covariance = torch.cov(white.permute(1, 0, 2, 3).flatten(1))
    assert torch.allclose(covariance, torch.eye(3), atol=1e-3)


def test_train_the_cnn_on_whitened_cifar_then_featvis_and_probe_it(tmp_path, cifar_root):
    env = {"BILIN_DATA": str(cifar_root)}
    trained = run_bilin(
        [
            "train",
            "model=cnn",
            "data=cifar10",
            "model.decorrelate=true",
            "epochs=3",
            "batch_size=32",
            "d_hidden=16",
            "lr=3e-3",
            "device=cpu",
            "quiet=true",
            "hydra.run.dir=cnn",
        ],
        tmp_path,
        env,
    )
    assert trained.returncode == 0, trained.stderr
    spec = json.loads((tmp_path / "cnn" / "model.json").read_text())
    assert spec["kind"] == "cnn" and spec["decorrelate"] is True and spec["input_shape"] == [3, 32, 32]
    record = json.loads((tmp_path / "cnn" / "run.json").read_text())
    assert record["final"]["val_acc"] > 0.3  # squares of ten colours: well above chance (0.1)
    shown = run_bilin(
        [
            "featvis",
            f"run={tmp_path / 'cnn'}",
            "steps=10",
            "target=[class:3,channel:features.3:5]",
            "device=cpu",
            "quiet=true",
        ],
        tmp_path,
        env,
    )
    assert shown.returncode == 0, shown.stderr
    run = only_run_dir(tmp_path / "outputs" / "featvis")
    basis = torch.tensor(json.loads((run / "run.json").read_text())["colour_basis"])
    import bilin

    model = bilin.load_model(tmp_path / "cnn")
    inverse = torch.linalg.inv(model.colour_whiten)
    assert torch.allclose(basis, inverse / inverse.norm(dim=0).max(), atol=1e-5)  # the model's own whitening
    probed = run_bilin(
        [
            "probe-csf",
            f"run={tmp_path / 'cnn'}",
            "size=32",
            "layer=features.2",
            "pairs=64",
            "epochs=1",
            "sfs=[2,8]",
            "bootstrap=20",
            "max_steps=4",
            "device=cpu",
            "quiet=true",
        ],
        tmp_path,
        env,
    )
    assert probed.returncode == 0, probed.stderr  # a bilin colour model as the frozen extractor
    csf_run = only_run_dir(tmp_path / "outputs" / "probe-csf")
    assert json.loads((csf_run / "run.json").read_text())["layers"] == ["features.2"]


def test_decorrelate_needs_a_colour_cnn(tmp_path, tiny_root):
    result = run_bilin(
        ["train", "model.decorrelate=true", "epochs=1", "d_hidden=8", "batch_size=64", "device=cpu", "quiet=true"],
        tmp_path,
        {"BILIN_DATA": str(tiny_root)},
    )
    assert result.returncode == 2 and "needs model=cnn and colour images" in result.stderr
