"""`bilin featvis` end to end through the real entry point, and its bad inputs."""

import csv
import json

import pytest
from safetensors import safe_open
from safetensors.torch import load_file

from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import TINY_ARGS, only_run_dir, run_bilin

pytestmark = pytest.mark.slow  # each test trains or renders through the CLI

FAST = ["steps=20", "quiet=true", "device=cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_root):
    """One tiny trained run shared by the module's tests (they only read it)."""
    where = tmp_path_factory.mktemp("featvis_model")
    result = run_bilin(["train", *TINY_ARGS, "hydra.run.dir=trained"], where, {"BILIN_DATA": str(tiny_root)})
    assert result.returncode == 0, result.stderr
    return where / "trained"


def test_featvis_ladder_of_a_bilin_run(bilin_cli, tmp_path, trained):
    result = bilin_cli("featvis", f"run={trained}", "ladder=true", "images_per_target=2", "frames_every=10", *FAST)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "featvis")
    tensors = load_file(str(run / "inputs.safetensors"))
    assert tensors["images"].shape == (10, 2, 1, 28, 28)
    assert tensors["ladder/+fourier"].shape == (10, 2, 1, 28, 28)
    rows = list(csv.DictReader((run / "curve.csv").open()))
    assert len(rows) == 20 * 10 * 2
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["seed"] == 0 and record["steps"] == 20
    assert set(record["render_seconds"]) == {
        "result",
        "baseline",
        "+robustness",
        "+fourier",
        "+decorrelation",
        "+diversity",
        "+maco",
    }
    assert record["maco_spectrum"] == "mnist train split, 640 images"  # the model's own training data
    ladder = list(csv.DictReader((run / "ladder.csv").open()))
    assert {r["step"] for r in ladder} == set(record["render_seconds"]) - {"result"}
    assert all((r["spectral_error"] != "") == (r["step"] == "+maco") for r in ladder)  # measured where MACO ran
    assert set(record["maco_seen"]) == {"+maco"}
    for name, images in tensors.items():
        if name.startswith("ladder/") or name == "images":
            assert images.min() >= 0 and images.max() <= 1, name  # every step stays in the data's range
    for name in ("featvis", "objective", "ladder", "animation", "featvis_vs_eigenvectors"):
        assert (run / "figures" / f"{name}.html").is_file(), name
    with safe_open(str(run / "eigenvectors.safetensors"), "pt") as eigen:  # signed as decompose signs them
        assert eigen.metadata()["sign"] == "mean u . x > 0 over the class's test images"


def test_featvis_sphere_mode_and_hidden_unit_targets(bilin_cli, tmp_path, trained):
    result = bilin_cli("featvis", f"run={trained}", "mode=sphere", "radius=3", "target=[class:2,unit:embed:4]", *FAST)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "featvis")
    images = load_file(str(run / "inputs.safetensors"))["images"]
    norms = images.flatten(2).norm(dim=-1)
    assert norms.sub(3).abs().max() < 1e-4  # on the sphere
    rows = list(csv.DictReader((run / "activations.csv").open()))
    assert [r["target"] for r in rows] == ["class 2", "embed unit 4"]
    assert float(rows[0]["norm"]) == pytest.approx(3, abs=1e-4)
    assert 0 < float(rows[0]["fraction_of_best"]) <= 1 + 1e-4 and rows[1]["fraction_of_best"] == ""


def test_featvis_maco_on_a_bilin_run(bilin_cli, tmp_path, trained):
    result = bilin_cli("featvis", f"run={trained}", "param=maco", "target=[class:1,class:4]", *FAST)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "featvis")
    images = load_file(str(run / "inputs.safetensors"))["images"]
    assert images.shape == (2, 1, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    record = json.loads((run / "run.json").read_text())
    assert record["tricks"]["param"] == "maco" and record["tricks"]["squash"] == "auto"
    assert record["maco_spectrum"] == "mnist train split, 640 images" and record["value_range"] == [0.0, 1.0]
    rows = list(csv.DictReader((run / "activations.csv").open()))
    for row, image in zip(rows, images[:, 0], strict=True):
        assert float(row["norm"]) == pytest.approx(float(image.norm()), rel=1e-5)
        assert float(row["fraction_of_best"]) <= 1 + 1e-4
        # the seen (clipped) image's measures beside every MACO result
        seen = ((image <= 0) | (image >= 1)).float().mean()
        assert float(row["at_bounds"]) == pytest.approx(float(seen), abs=1e-6)
        assert float(row["spectral_error"]) > 0
    assert set(record["maco_seen"]) == {"result"}
    assert record["maco_seen"]["result"]["spectral_error"] == pytest.approx(
        sum(float(r["spectral_error"]) for r in rows) / 2, rel=1e-5
    )


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["target=[unit:nolayer:1]"], "unknown layer 'nolayer'; this model's layers are: embed, bilinear, head"),
        (["target=[unit:embed:99]"], "out of range: layer 'embed' has 16 units"),
        (["target=[class:10]"], "out of range: the model's output has 10 classes"),
        (["target=[pixel:3]"], "is not class:<i>"),
        (["fourier=true"], "fourier= is no longer a key of bilin featvis: use param=fourier"),
        (["param=maco", "+fourier=false"], "fourier= is no longer a key of bilin featvis: use param=fourier"),
        (["param=maco", "spectrum_data=nowhere"], "spectrum_data='nowhere' is not auto, natural"),
        (["colour_data=nowhere"], None),  # grey model: no colour basis is needed, so this is not an error
    ],
)
def test_featvis_bad_inputs(bilin_cli, tmp_path, trained, args, fragment):
    result = bilin_cli("featvis", f"run={trained}", *FAST, *args)
    if fragment is None:
        assert result.returncode == 0, result.stderr
        return
    assert_clean_failure(result, fragment, tmp_path)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["net=tv:nosuchnet", "weights=none"], "unknown torchvision model 'nosuchnet'"),
        (["net=tv:resnet18", "weights=/nonexistent.pt"], "weights=/nonexistent.pt: no such file"),
        (["run=/nonexistent/run"], "/nonexistent/run"),
    ],
)
def test_featvis_bad_model_choices(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("featvis", *FAST, *args), fragment, tmp_path)


def test_featvis_torchvision_random_weights(bilin_cli, tmp_path):
    result = bilin_cli(
        "featvis",
        "net=tv:resnet18",
        "weights=none",
        "size=32",
        "steps=5",
        "target=[channel:layer2:3,class:8]",
        "images_per_target=2",
        "diversity=1",
        "quiet=true",
        "device=cpu",
    )
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "featvis")
    assert load_file(str(run / "inputs.safetensors"))["images"].shape == (2, 2, 3, 32, 32)
    record = json.loads((run / "run.json").read_text())
    # at 32 px layer4 is 1 x 1, so the last spatial layer is layer3
    assert record["diversity_layer"] == "layer3" and len(record["colour_basis"]) == 3
