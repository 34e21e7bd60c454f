"""Every user mistake: one line on stderr, exit code 2, no traceback, no run claiming completion.

Option mistakes are caught before anything runs (no output folder is made) and without
importing torch, so the table below is fast; mistakes that need the data or a model are slow.
"""

import json

import numpy as np
import pytest

from bilin.data.idx import write_idx
from tests.conftest import TINY_ARGS, write_dataset


def assert_clean_failure(result, fragment: str, cwd) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bilin: error:") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    for record in (cwd / "outputs").rglob("run.json"):
        assert json.loads(record.read_text())["status"] != "complete"


GRID = ["sizes=[8,12]", "seeds=[0,1]"]
OPTION_MISTAKES = [
    # train: groups, types, ranges, choices, presets, keys added with +
    ("train", ["data=foo"], "available: cifar10, fmnist, mnist"),
    ("train", ["model=transformer"], "config group 'model'"),
    ("train", ["experiment=nope"], "available: paper_fig2, paper_noise_sweep, paper_truncation, smoke"),
    ("train", ["foo=1"], "Key 'foo' not in"),
    ("train", ["+epoch=50"], "unknown key 'epoch'"),
    ("train", ["seed=abc"], "'abc'"),
    ("train", ["noise=-0.1"], "noise=-0.1 must be >= 0"),
    ("train", ["d_hidden=0"], "d_hidden=0 must be >= 1"),
    ("train", ["epochs=0"], "epochs=0 must be >= 1"),
    ("train", ["batch_size=0"], "batch_size=0 must be >= 1"),
    ("train", ["lr=0"], "lr=0.0 must be > 0"),
    ("train", ["lr=-1"], "must be > 0"),
    ("train", ["lr=inf"], "lr=inf must be a finite number"),
    ("train", ["data.train_limit=0"], "data.train_limit=0 must be >= 1"),
    ("train", ["model.gate=tanh"], "model.gate='tanh' is not one of"),
    ("train", ["~model"], "model.name has no value"),
    ("train", ["precision=fp8"], "precision='fp8'"),
    ("train", ["precision=tf32"], "CUDA matmul mode"),
    ("train", ["device=tpu"], "device='tpu'"),
    ("train", ["device=cuda"], "no CUDA device"),
    ("train", ["outputs_root=/dev/null/sub"], "cannot be written"),
    ("train", ["model.decorrelate=true"], "needs model=cnn and colour images"),
    ("train", ["--bogus"], "unrecognized arguments: --bogus"),
    ("train", ["-m", "resume=somewhere"], "resume=<run dir> cannot be combined with -m"),
    # analysis commands: each has only its own keys
    ("truncate", ["ranks=5"], "Key 'ranks' not in 'TruncateConfig'"),
    ("truncate", [*GRID, "k_max=30"], "k_max=30 is beyond d=8"),
    ("truncate", ["model=bilinear_relu", *GRID, "k_max=4"], "ungated bilinear"),
    ("truncate", ["sizes=[8,8]", "k_max=4"], "gives 8 twice"),
    ("truncate", ["precision=tf32"], "precision='tf32' is not one of ('fp32', 'bf16', 'auto')"),
    ("similarity", ["sizes=[]"], "grid is empty"),
    ("similarity", ["sizes=[8]", "seeds=[0]", "reference_size=8"], "at least two seeds"),
    ("similarity", [*GRID, "reference_size=7"], "reference_size=7 is not among sizes=[8, 12]"),
    ("similarity", [*GRID, "reference_size=8", "order=middle"], "order='middle' is not one of"),
    ("decompose", ["explain=-1"], "explain=-1 must be >= 0"),
    ("decompose", ["model=relu"], "ungated bilinear"),
    ("noise-sweep", ["target_class=10"], "target_class=10 must be <= 9"),
    ("noise-sweep", ["noises=[0,-1]"], "noises=[0.0,-1.0] must all be >= 0"),
    ("noise-sweep", ["datasets=[cifar10]"], "datasets: 'cifar10' is not one of ('mnist', 'fmnist')"),
    ("noise-sweep", ["seeds=[]"], "noises, datasets and seeds must each name at least one value"),
    ("frequency", ["sfs=[20]"], "sfs=[20.0] must all be <= 14"),
    ("frequency", ["featvis_method=nope"], "featvis_method='nope': use one of pixel, +robustness"),
    ("frequency", ["model=relu"], "ungated bilinear"),
    ("frequency", ["criterion=0"], "criterion=0.0 must be > 0"),
    ("frequency", ["protocol=random"], "protocol='random' is not one of ('tutorial', 'jittered')"),
    ("probe-csf", ["procedure=nope"], "procedure='nope' is not one of ('bisection', 'quest', 'both')"),
    ("accuracy", ["models=[cnn]"], "models: 'cnn' is not one of ('bilinear', 'bilinear_bias', 'bilinear_relu'"),
    ("accuracy", ["models=[]"], "models and datasets must each name at least one value"),
    # featvis and probe-csf
    ("featvis", [], "give exactly one of run="),
    ("featvis", ["net=resnet18"], "net='resnet18': featvis takes torchvision models as net=tv:<name>"),
    ("featvis", ["net=tv:resnet18", "steps=0"], "steps=0 must be >= 1"),
    ("featvis", ["net=tv:resnet18", "optimizer=lbfgs"], "optimizer='lbfgs'"),
    ("featvis", ["net=tv:resnet18", "radius=nan"], "radius=nan must be a finite number"),
    ("probe-csf", ["epochs=0"], "epochs=0 must be >= 1"),
    ("probe-csf", ["trials=0"], "trials=0 must be >= 1"),
    ("probe-csf", ["net=resnet50"], "net='resnet50': use net=tv:<torchvision model name>"),
    ("probe-csf", ["run=/some/run", "net=tv:resnet18"], "give run=<bilin run> or net=tv:<torchvision model>, not both"),
    ("probe-csf", ["size=32", "sfs=[1,20]"], "spatial frequency 20.0 is outside (0, size/2 = 16]"),
    ("probe-csf", ["experiment=nope"], "available: quick, smoke"),
    ("probe-csf", ["pairs=100", "batch_size=5000"], "batch_size=5000 is larger than pairs=100"),
    # folders, paths and values that used to pass or end in a traceback
    ("train", ["outputs_root="], "outputs_root is empty"),
    ("train", ["outputs_root=" + "x" * 300], "File name too long"),
    ("train", ["hydra.run.dir=" + "x" * 300], "File name too long"),
    ("truncate", ["cache_root=/dev/null/cache"], "cache_root=/dev/null/cache cannot be written"),
    ("truncate", ["cache_root="], "cache_root is empty"),
    ("train", ["--config-name=foo"], "--config-name is not supported"),
    ("train", ["-cn", "foo"], "--config-name is not supported"),
    ("train", ["--config-dir=/tmp"], "--config-dir is not supported"),
    ("train", ["model.gate=é"], "quote a value with characters outside ASCII"),
    ("train", ["quiet=maybe"], "'maybe' is not a valid bool"),
    ("train", ["wd=-inf"], "must be a finite number"),
    ("featvis", ["net=tv:resnet18", "l2=inf"], "l2=inf must be a finite number"),
    ("featvis", ["net=tv:resnet18", "lr=nan"], "lr=nan must be a finite number"),
    ("decompose", ["run=/no/such/run"], "run=/no/such/run: does not exist"),
    ("featvis", ["run=/no/such/run"], "run=/no/such/run: does not exist"),
    ("train", ["resume=/no/such/run"], "resume=/no/such/run: does not exist"),
    ("train", ["resume=/dev/null"], "resume=/dev/null: is a file, not a run folder"),
    ("decompose", ["run=/dev/null"], "run=/dev/null: is a file, not a run folder"),
]


@pytest.mark.parametrize("command,args,fragment", OPTION_MISTAKES, ids=lambda x: x if isinstance(x, str) else None)
def test_option_mistakes_stop_before_anything_runs(bilin_cli, tmp_path, command, args, fragment):
    result = bilin_cli(command, *args)
    assert_clean_failure(result, fragment, tmp_path)
    assert not (tmp_path / "outputs").exists()


def test_a_source_run_that_is_a_file_or_not_complete_is_refused_before_anything_runs(bilin_cli, tmp_path):
    (tmp_path / "a_file").write_text("")
    assert_clean_failure(bilin_cli("decompose", f"run={tmp_path / 'a_file'}"), "is a file, not a run folder", tmp_path)
    for status in ("failed", "interrupted", "running"):
        (tmp_path / status).mkdir()
        (tmp_path / status / "run.json").write_text(json.dumps({"status": status}))
        for command in ("decompose", "featvis", "probe-csf"):
            result = bilin_cli(command, f"run={tmp_path / status}")
            assert_clean_failure(result, f"is {status}, not complete", tmp_path)
    assert not (tmp_path / "outputs").exists()


def test_unknown_figure_format_is_refused_before_anything_runs(bilin_cli, tmp_path):
    result = bilin_cli("train", *TINY_ARGS, env={"BILIN_FIGURE_FORMATS": "png,bmp"})
    assert_clean_failure(result, "kaleido cannot write bmp", tmp_path)
    assert not (tmp_path / "outputs").exists()


def test_bad_value_inside_a_sweep_is_caught_before_any_job(bilin_cli, tmp_path):
    result = bilin_cli("train", "-m", *TINY_ARGS, "seed=0,abc")
    assert_clean_failure(result, "'abc'", tmp_path)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_batch_larger_than_the_data(bilin_cli, tmp_path):
    assert_clean_failure(
        bilin_cli("train", *TINY_ARGS, "batch_size=100000"), "larger than the 640 training images", tmp_path
    )


@pytest.mark.slow
def test_missing_dataset_files(bilin_cli, tmp_path):
    result = bilin_cli("train", *TINY_ARGS, f"data.root={tmp_path / 'empty'}", "data.download=false")
    assert_clean_failure(result, "train-images-idx3-ubyte", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage,fragment",
    [
        (lambda p: p.write_bytes(b"\x00\x00\x0d\x03" + p.read_bytes()[4:]), "bad magic"),
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "wrong size"),
    ],
)
def test_corrupt_idx_file(bilin_cli, tmp_path, damage, fragment):
    raw = write_dataset(tmp_path / "bad", "MNIST", gz=False)
    damage(raw / "train-images-idx3-ubyte")
    result = bilin_cli("train", *TINY_ARGS, f"data.root={tmp_path / 'bad'}")
    assert_clean_failure(result, fragment, tmp_path)


@pytest.mark.slow
def test_mismatched_image_and_label_counts(bilin_cli, tmp_path):
    raw = write_dataset(tmp_path / "bad", "MNIST", gz=False)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(10, dtype=np.uint8))
    result = bilin_cli("train", *TINY_ARGS, f"data.root={tmp_path / 'bad'}")
    assert_clean_failure(result, "do not match", tmp_path)


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_last_good_checkpoint(bilin_cli, tmp_path):
    from safetensors.torch import load_file

    result = bilin_cli("train", *TINY_ARGS, "epochs=5", "lr=1e12", "wd=0", "noise=0", "hydra.run.dir=run")
    assert_clean_failure(result, "NaN", tmp_path)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "failed" and "NaN" in record["error"]
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(v.isfinite().all() for v in weights.values())
