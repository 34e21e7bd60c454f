"""Issue 20, classes 7 and 8: inputs checked for meaning, not only type, and the run-config layer's
last tracebacks (resume, Hydra's own paths), each through the real CLI.

A refused value ends in one line and exit 2 before any folder is made (own=()), or, for a file read
once the model is at hand, with only the run's own folder left, marked failed. A value that is fine
but cannot give a result (a peak from one frequency) gives a complete run that says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
from csv import DictReader
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.conftest import TINY_ARGS, run_bilin
from tests.redteam.harness import Case, run_case

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def made(tmp_path_factory, tiny_root) -> dict[str, Path]:
    """Runs the cases copy: a bilinear and a relu train run (d=16) and a truncate run."""
    where = tmp_path_factory.mktemp("made")
    env = {"BILIN_DATA": str(tiny_root)}
    commands = {
        "bilinear": ["train", *TINY_ARGS, "hydra.run.dir=bilinear"],
        "relu": ["train", *TINY_ARGS, "model=relu", "hydra.run.dir=relu"],
        "truncate": ["truncate", "experiment=smoke", "sizes=[8]", "seeds=[0]", "device=cpu", "hydra.run.dir=truncate"],
    }
    for args in commands.values():
        result = run_bilin(args, where, env)
        assert result.returncode == 0, result.stderr[-2000:]
    return {name: where / name for name in commands}


MADE: dict[str, Path] = {}  # filled from the fixture before each case's setup runs


# -- worlds -------------------------------------------------------------------------------------
def images_file(name: str, images: torch.Tensor):
    def setup(world: Path) -> None:
        world.mkdir(parents=True, exist_ok=True)
        save_file({"images": images.contiguous()}, str(world / name))

    return setup


def spectrum_file(images: torch.Tensor):
    """The made bilinear run (copied) and a spectrum_data file of `images` beside it."""
    copy, write = copy_of("bilinear"), images_file("images.safetensors", images)

    def setup(world: Path) -> None:
        copy(world)
        write(world)

    return setup


def _colour_images() -> torch.Tensor:
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _grey_images() -> torch.Tensor:
    return torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _with_nan() -> torch.Tensor:
    images = _grey_images()
    images[1, 0, 3, 4] = math.nan
    return images


def interrupted_copy(source: str, edit=None):
    """A copy of a made train run, marked interrupted (resumable), then edited by `edit`."""

    def setup(world: Path) -> None:
        world.mkdir(parents=True, exist_ok=True)
        run = world / "run"
        shutil.copytree(MADE[source], run)
        record = json.loads((run / "run.json").read_text())
        record["status"] = "interrupted"
        (run / "run.json").write_text(json.dumps(record))
        if edit:
            edit(run)

    return setup


def config_says_d32(run: Path) -> None:
    config = run / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("d_hidden: 16", "d_hidden: 32"))


def checkpoint_of_relu_run(run: Path) -> None:
    """checkpoint.pt swapped for the relu run's, its checksum updated so only the model differs."""
    shutil.copy(MADE["relu"] / "checkpoint.pt", run / "checkpoint.pt")
    sums = json.loads((run / "checksums.json").read_text())
    sums["checkpoint.pt"] = hashlib.sha256((run / "checkpoint.pt").read_bytes()).hexdigest()
    (run / "checksums.json").write_text(json.dumps(sums))


def copy_of(source: str):
    def setup(world: Path) -> None:
        world.mkdir(parents=True, exist_ok=True)
        shutil.copytree(MADE[source], world / "run")

    return setup


def a_file(world: Path) -> None:
    world.mkdir(parents=True, exist_ok=True)
    (world / "afile").write_text("a regular file, not a folder\n")


# -- outcomes -----------------------------------------------------------------------------------
def failed_run(world: Path, _result: subprocess.CompletedProcess) -> None:
    assert json.loads((world / "out" / "run.json").read_text())["status"] == "failed"


def still_interrupted(world: Path, _result: subprocess.CompletedProcess) -> None:
    record = json.loads((world / "run" / "run.json").read_text())
    assert record["status"] == "interrupted"  # untouched: still resumable once the cause is fixed


def peaks_not_estimable(world: Path, _result: subprocess.CompletedProcess) -> None:
    rows = list(DictReader((world / "out" / "frequency.csv").open()))
    assert rows and all(r["weights_peak"] == "nan" and r["probe_peak_ci_low"] == "nan" for r in rows)
    assert all("at least 3 distinct frequencies, 1 was tested" in r["band_note"] for r in rows)
    assert all(float(r["eigen_centroid"]) > 0 for r in rows)  # the centroids need no band: still measured
    summary = list(DictReader((world / "out" / "frequency_summary.csv").open()))
    peaks = [r for r in summary if r["measure"].endswith(("_peak", "_octaves"))]
    assert peaks and all(r["mean"] == r["low"] == r["high"] == "nan" and r["note"] for r in peaks)
    assert "| n/a |" in (world / "out" / "frequency_table.md").read_text()


def probe_peak_not_estimable(world: Path, _result: subprocess.CompletedProcess) -> None:
    record = json.loads((world / "out" / "run.json").read_text())
    peak = record["peaks"]["layer2"]
    assert peak["cycles_per_image"] is None and peak["ci"] == [None, None]
    assert "2 were tested" in peak["note"]
    thresholds = list(DictReader((world / "out" / "thresholds.csv").open()))
    assert [float(r["sf_cycles_per_image"]) for r in thresholds] == [2.0, 4.0]  # the thresholds still are


def probe_sfs_in_order(world: Path, _result: subprocess.CompletedProcess) -> None:
    record = json.loads((world / "out" / "run.json").read_text())
    assert record["sfs"] == [1.0, 2.0, 4.0] and 1.0 <= record["peaks"]["layer2"]["cycles_per_image"] <= 4.0
    thresholds = list(DictReader((world / "out" / "thresholds.csv").open()))
    assert [float(r["sf_cycles_per_image"]) for r in thresholds] == [1.0, 2.0, 4.0]


def spectrum_from_uint8(world: Path, _result: subprocess.CompletedProcess) -> None:
    record = json.loads((world / "out" / "run.json").read_text())
    assert record["status"] == "complete" and record["maco_spectrum"].startswith("4 images of")


OUT = "hydra.run.dir={w}/out"
FEATVIS = ("featvis", "experiment=smoke", "device=cpu", OUT)
# a copy of the made bilinear run: grey 28 x 28 images, no torchvision to import
MACO = ("featvis", "run={w}/run", "steps=2", "target=[class:0]", "quiet=true", "device=cpu", OUT)
MACO = (*MACO, "param=maco", "spectrum_data={w}/images.safetensors")
PROBE = ("probe-csf", "experiment=smoke", "device=cpu", OUT)
FREQUENCY = ("frequency", "experiment=smoke", "device=cpu", "noises=[0.0]", "seeds=[0]", OUT)
TRAIN = ("train", *TINY_ARGS)

CASES = [
    # 7: a MACO spectrum file (and a colour basis file) checked for meaning before rendering
    Case("maco-nan", 7, MACO, "1 of its values are NaN or infinite", ("out",), spectrum_file(_with_nan()), failed_run),
    Case(
        "maco-zeros",
        7,
        MACO,
        "every image is one flat value",
        ("out",),
        spectrum_file(torch.zeros(4, 1, 28, 28)),
        failed_run,
    ),
    Case(
        "maco-x1000",
        7,
        MACO,
        "outside the model's input range [0, 1]",
        ("out",),
        spectrum_file(1000 * _grey_images()),
        failed_run,
    ),
    Case(
        "maco-empty",
        7,
        MACO,
        "holds no images",
        ("out",),
        spectrum_file(torch.zeros(0, 1, 28, 28)),
        failed_run,
    ),
    Case(
        "maco-uint8-is-read-as-0-255",
        7,
        MACO,
        None,
        ("out",),
        spectrum_file((255 * _grey_images()).to(torch.uint8)),
        spectrum_from_uint8,
    ),
    Case(
        "colour-data-grey",
        7,
        (*FEATVIS, "colour_data={w}/images.safetensors"),
        "colour channels are not independent",
        ("out",),
        images_file("images.safetensors", _colour_images()[:, :1].repeat(1, 3, 1, 1)),
        failed_run,
    ),
    # 7: a peak or bandwidth needs three distinct frequencies; repeated values of a list are refused
    Case("frequency-one-sf", 7, (*FREQUENCY, "sfs=[2.5]"), None, ("out", "outputs"), check=peaks_not_estimable),
    Case("frequency-same-sf-thrice", 7, (*FREQUENCY, "sfs=[1,1,1]"), "sfs=[1.0,1.0,1.0] gives 1.0 twice"),
    Case("frequency-repeated-noise", 7, ("frequency", "noises=[0.0,0]"), "noises=[0.0,0.0] gives 0.0 twice"),
    Case("probe-csf-two-sfs", 7, (*PROBE, "sfs=[2,4]"), None, ("out",), check=probe_peak_not_estimable),
    Case("probe-csf-sfs-in-any-order", 7, (*PROBE, "sfs=[4,1,2]"), None, ("out",), check=probe_sfs_in_order),
    Case("probe-csf-repeated-sf", 7, (*PROBE, "sfs=[1,2,2,4]"), "gives 2.0 twice"),
    Case("probe-csf-repeated-colour", 7, (*PROBE, "colours=[lum,lum]"), "colours=[lum,lum] gives lum twice"),
    Case("probe-csf-repeated-layer", 7, (*PROBE, "layers=[layer1,layer1]"), "gives layer1 twice"),
    Case("probe-csf-layer-and-layers", 7, (*PROBE, "layer=layer1", "layers=[layer2]"), "give one layer= or a sweep"),
    Case("probe-csf-empty-layer", 7, (*PROBE, "layer=''"), "layer is empty; give a value, or null for the default"),
    Case("frequency-empty-layer", 7, ("frequency", "layer=' '"), "layer is empty; give a value"),
    Case("featvis-target-twice", 7, (*FEATVIS, "target=[class:1,class:0,class:1]"), "gives class:1 twice"),
    Case("accuracy-repeated-model", 7, ("accuracy", "models=[relu,relu]"), "models=[relu,relu] gives relu twice"),
    Case("truncate-repeated-size", 7, ("truncate", "sizes=[8,8]", "k_max=4"), "sizes=[8,8] gives 8 twice"),
    Case("seed-beyond-range", 7, (*TRAIN, "seed=18446744073709551616"), "must be <= 4294967295"),
    Case("seeds-negative", 7, ("truncate", "experiment=smoke", "seeds=[-1,0]"), "must all be >= 0"),
    Case("similarity-ranks-beyond-size", 7, ("similarity", "experiment=smoke", "ranks=9"), "ranks=9 is beyond d=8"),
    # 8: resume refuses another model or another command's run, and leaves the run as it was
    Case(
        "resume-config-edited-to-d32",
        8,
        ("train", "resume={w}/run"),
        "model.json says d_hidden=16",
        setup=interrupted_copy("bilinear", config_says_d32),
        check=still_interrupted,
    ),
    Case(
        "resume-relu-checkpoint-into-bilinear",
        8,
        ("train", "resume={w}/run"),
        "holds another model than the run's config (bilinear d_hidden=16 on mnist)",
        setup=interrupted_copy("bilinear", checkpoint_of_relu_run),
        check=still_interrupted,
    ),
    Case(
        "resume-a-truncate-run",
        8,
        ("train", "resume={w}/run"),
        "is not a bilin train run: it was made by bilin truncate",
        setup=copy_of("truncate"),
    ),
    Case(
        "resume-a-truncate-run-without-its-hydra-yaml",
        8,
        ("train", "resume={w}/run"),
        "its saved config is not a bilin train config (unknown key",
        setup=interrupted_copy("truncate", lambda run: (run / ".hydra" / "hydra.yaml").unlink()),
    ),
    # 8: every folder Hydra writes is tried before the run starts
    Case(
        "run-dir-under-a-file", 8, (*TRAIN, "hydra.run.dir={w}/afile/run"), "afile is not a writable folder", (), a_file
    ),
    Case(
        "sweep-dir-under-a-file",
        8,
        ("train", "-m", *TINY_ARGS, "seed=0,1", "hydra.sweep.dir={w}/afile/sweep"),
        "hydra.sweep.dir=",
        (),
        a_file,
    ),
    Case("run-dir-in-proc", 8, (*TRAIN, "hydra.run.dir=/proc/bilin-red-team/run"), "/proc refuses new entries"),
    Case(
        "log-file-under-a-file",
        8,
        (*TRAIN, "hydra.job_logging.handlers.file.filename={w}/afile/train.log"),
        "hydra.job_logging.handlers.file.filename=",
        (),
        a_file,
    ),
    Case(
        "executor-folder-under-a-file",
        8,
        ("truncate", "experiment=smoke", "executor=local", "executor.folder={w}/afile/jobs"),
        "executor.folder=",
        (),
        a_file,
    ),
    Case("run-dir-empty", 8, (*TRAIN, "hydra.run.dir="), "hydra.run.dir is empty"),
    Case(
        "run-dir-holding-another-run",
        8,
        (*TRAIN, "hydra.run.dir={w}/run"),
        "already holds files",
        setup=copy_of("bilinear"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_input_case(case: Case, made, tmp_path: Path, tiny_root: Path) -> None:
    MADE.update(made)
    world = tmp_path / "world"
    world.mkdir()
    run_case(case, world, tiny_root)
