"""Faults a run can meet: damaged files, other data, other processes, a full disk, memory, signals.

Each ends in one line and exit code 2 (or recovers on its own, where that is the right thing), and
no run is left `running`, or `complete` with results it should not have.
"""

import json
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock

from bilin.data.idx import write_idx
from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import TINY_ARGS, run_bilin, start_bilin, write_dataset

pytestmark = pytest.mark.slow
GRID = ["sizes=[8]", "seeds=[0,1]", "epochs=2", "batch_size=64", "k_max=2", "device=cpu", "quiet=true"]
LOUD_GRID = [a for a in GRID if a != "quiet=true"]  # for tests that wait for the cache's first line


@pytest.fixture(scope="module")
def source(tmp_path_factory, tiny_root) -> Path:
    """One complete train run, copied by the tests that damage it."""
    where = tmp_path_factory.mktemp("source")
    result = run_bilin(["train", *TINY_ARGS, "hydra.run.dir=run"], where, {"BILIN_DATA": str(tiny_root)})
    assert result.returncode == 0, result.stderr
    return where / "run"


def copy_of(source: Path, tmp_path: Path, name: str = "copy") -> Path:
    import shutil

    return Path(shutil.copytree(source, tmp_path / name))


def flip_a_bit(path: Path, offset: int = -50) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def status_of(run: Path) -> str:
    return json.loads((run / "run.json").read_text())["status"]


@pytest.mark.parametrize(
    "damage,command,fragment",
    [
        (lambda r: flip_a_bit(r / "model.safetensors"), "decompose", "does not match the SHA-256"),
        (lambda r: (r / "model.safetensors").write_bytes(b"\0" * 10), "featvis", "does not match the SHA-256"),
        (lambda r: (r / "model.json").write_text('{"kind": '), "decompose", "cannot be read as JSON"),
        (lambda r: (r / "model.json").write_text("[1, 2]"), "featvis", "is not a JSON object"),
        (lambda r: (r / "checksums.json").unlink(), "decompose", "has no recorded checksum"),
        (lambda r: (r / "run.json").write_text("{"), "decompose", "its run.json is damaged"),
    ],
)
def test_a_damaged_source_run_is_refused(bilin_cli, tmp_path, source, damage, command, fragment):
    run = copy_of(source, tmp_path)
    damage(run)
    extra = ["steps=2"] if command == "featvis" else []
    result = bilin_cli(command, f"run={run}", "device=cpu", "hydra.run.dir=analysis", *extra)
    assert_clean_failure(result, fragment, tmp_path)
    if (tmp_path / "analysis" / "run.json").exists():
        assert status_of(tmp_path / "analysis") == "failed"


def test_a_damaged_checkpoint_is_refused_on_resume(bilin_cli, tmp_path, source):
    run = copy_of(source, tmp_path)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "status": "interrupted"}))
    flip_a_bit(run / "checkpoint.pt", 100)
    assert_clean_failure(bilin_cli("train", f"resume={run}"), "checkpoint.pt does not match the SHA-256", tmp_path)


def test_an_incomplete_source_is_used_only_when_allowed_and_recorded(bilin_cli, tmp_path, source):
    run = copy_of(source, tmp_path)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "status": "failed"}))
    assert_clean_failure(bilin_cli("decompose", f"run={run}", "device=cpu"), "is failed, not complete", tmp_path)
    result = bilin_cli("decompose", f"run={run}", "allow_incomplete=true", "device=cpu", "hydra.run.dir=d")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "d" / "run.json").read_text())["source_run"] == {"path": str(run), "status": "failed"}


def test_the_model_cache_detects_damage_and_can_be_repaired(bilin_cli, tmp_path):
    assert bilin_cli("truncate", *GRID, "hydra.run.dir=first").returncode == 0
    entries = sorted(p for p in (tmp_path / "outputs" / "cache").iterdir() if p.is_dir())
    flip_a_bit(entries[0] / "model.safetensors")
    result = bilin_cli("truncate", *GRID, "hydra.run.dir=again")
    assert_clean_failure(result, "does not match the SHA-256", tmp_path)
    assert status_of(tmp_path / "again") == "failed"
    verify = bilin_cli("cache", "verify", "--root", "outputs/cache")
    assert verify.returncode == 2 and "1 damaged or incomplete" in verify.stderr
    assert bilin_cli("cache", "verify", "--root", "outputs/cache", "--remove").returncode == 0
    assert not entries[0].exists() and entries[1].exists()
    result = bilin_cli("truncate", *GRID, "hydra.run.dir=repaired")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "repaired" / "run.json").read_text())
    assert record["status"] == "complete" and record["cache_hits"] == 1  # the damaged one was retrained
    (entries[1] / "recipe.json").write_text("{not json")
    assert_clean_failure(bilin_cli("truncate", *GRID), "recipe.json cannot be read as JSON", tmp_path)


def test_a_model_trained_on_other_data_is_never_a_cache_hit(bilin_cli, tmp_path, tiny_root):
    import gzip
    import shutil

    shuffled = Path(shutil.copytree(tiny_root, tmp_path / "shuffled"))
    labels = shuffled / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    raw = gzip.decompress(labels.read_bytes())
    permuted = np.random.default_rng(0).permutation(np.frombuffer(raw[8:], dtype=np.uint8))
    labels.write_bytes(gzip.compress(raw[:8] + permuted.tobytes()))
    assert bilin_cli("truncate", *GRID, "hydra.run.dir=real").returncode == 0
    other = bilin_cli("truncate", *GRID, "hydra.run.dir=other", env={"BILIN_DATA": str(shuffled)})
    assert other.returncode == 0, other.stderr
    assert json.loads((tmp_path / "other" / "run.json").read_text())["cache_hits"] == 0
    assert bilin_cli("truncate", *GRID, "hydra.run.dir=again").returncode == 0
    assert json.loads((tmp_path / "again" / "run.json").read_text())["cache_hits"] == 2


@pytest.mark.parametrize(
    "make,fragment",
    [
        (lambda root: write_idx(root / "train-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8)), "has no images"),
        (
            lambda root: write_idx(root / "train-images-idx3-ubyte", np.zeros((640, 32, 32), np.uint8)),
            "another dataset",
        ),
    ],
)
def test_an_empty_split_or_a_dataset_of_another_size_is_refused(bilin_cli, tmp_path, make, fragment):
    raw = write_dataset(tmp_path / "bad", "MNIST", gz=False)
    make(raw)
    if "has no images" in fragment:
        write_idx(raw / "train-labels-idx1-ubyte", np.zeros(0, np.uint8))
    result = bilin_cli("train", *TINY_ARGS, f"data.root={tmp_path / 'bad'}")
    assert_clean_failure(result, fragment, tmp_path)


def test_weights_of_another_architecture_for_a_torchvision_model(bilin_cli, tmp_path, source):
    other = tmp_path / "other.pt"
    torch.save({"embed.weight": torch.zeros(4, 4)}, other)
    result = bilin_cli("featvis", "net=tv:resnet18", f"weights={other}", "size=32", "steps=1", "device=cpu")
    assert_clean_failure(result, "is not a state dict of torchvision's resnet18", tmp_path)
    (tmp_path / "pickled.pt").write_bytes(b"\x80\x04not a pickle")
    result = bilin_cli("featvis", "net=tv:resnet18", f"weights={tmp_path / 'pickled.pt'}", "size=32", "steps=1")
    assert_clean_failure(result, "could not be read as tensors", tmp_path)
    assert "weights_only=False" not in result.stderr  # torch's advice to unpickle code is not passed on


def test_a_damaged_figure_json_for_export_figures(bilin_cli, tmp_path, source):
    run = copy_of(source, tmp_path)
    (run / "figures" / "training_curves.json").write_text("{not json")
    result = bilin_cli("export-figures", str(run), env={"BILIN_FIGURE_FORMATS": "svg"})
    assert_clean_failure(result, "training_curves.json is not a plotly figure", tmp_path)


@pytest.mark.parametrize(
    "command,args",
    [
        ("train", [*TINY_ARGS, "d_hidden=10000000"]),
        ("truncate", ["sizes=[4000000]", "seeds=[0]", "k_max=1", "batch_size=64", "device=cpu", "quiet=true"]),
        ("probe-csf", ["net=tv:resnet18", "weights=none", "size=30000", "sfs=[2]", "device=cpu"]),
        ("featvis", ["net=tv:resnet18", "weights=none", "size=60000", "steps=1", "device=cpu"]),
    ],
)
def test_work_that_cannot_fit_in_memory_is_refused_before_it_allocates(bilin_cli, tmp_path, command, args):
    assert_clean_failure(bilin_cli(command, *args), "of memory but cpu has", tmp_path)


def test_two_runs_in_the_same_second_get_folders_of_their_own(bilin_cli, tmp_path):
    claim = ["hydra.run.dir=${bilin.new_folder:runs/same}"]  # as the default run folder, with a fixed time
    first, second = (bilin_cli("train", *TINY_ARGS, *claim) for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert "runs/same is taken by another run started in the same second; this run is in runs/same_2" in second.stderr
    for folder in ("same", "same_2"):
        assert status_of(tmp_path / "runs" / folder) == "complete"
        assert (tmp_path / "runs" / folder / ".hydra" / "config.yaml").is_file()


def test_a_run_being_written_cannot_be_resumed_by_a_second_process(bilin_cli, tmp_path, source):
    run = copy_of(source, tmp_path)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "status": "interrupted"}))
    with FileLock(run / ".lock"):  # another process (here: the test) is writing the run
        result = bilin_cli("train", f"resume={run}")
    assert_clean_failure(result, "another bilin process is writing", tmp_path)
    assert status_of(run) == "interrupted"


def test_two_processes_on_one_cache_entry_train_it_once(tmp_path, tiny_root):
    env = {"BILIN_DATA": str(tiny_root)}
    grid = [*GRID, "epochs=60"]
    procs = [start_bilin(["truncate", *grid, f"hydra.run.dir=run{i}"], tmp_path, env) for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    trained = [
        line
        for i in range(2)
        for line in (tmp_path / f"run{i}" / "truncate.log").read_text().splitlines()
        if "cached " in line
    ]
    assert len(trained) == 2  # two models in all, each trained by one process only
    hits = [json.loads((tmp_path / f"run{i}" / "run.json").read_text())["cache_hits"] for i in range(2)]
    logs = "".join((tmp_path / f"run{i}" / "truncate.log").read_text() for i in range(2))
    assert sorted(hits) == [0, 2] or "trained by another process" in logs


def test_a_cache_entry_killed_while_training_is_retrained_not_used(bilin_cli, tmp_path, tiny_root):
    proc = start_bilin(
        ["truncate", *LOUD_GRID, "epochs=2000"], tmp_path, {"BILIN_DATA": str(tiny_root)}, stdout=subprocess.DEVNULL
    )
    for line in proc.stderr:
        if ": epoch 1/2000" in line:  # training has started: its entries are marked, recipe.json not written
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    result = bilin_cli("truncate", *GRID, "hydra.run.dir=after")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "after" / "run.json").read_text())["cache_hits"] == 0
    verify = bilin_cli("cache", "verify", "--root", "outputs/cache")  # the killed entries are shown as died
    assert verify.returncode == 2 and "2 usable, 2 damaged or incomplete" in verify.stdout, verify.stdout
    assert verify.stdout.count(" died ") == 2 and "no process holds its lock" in verify.stdout
    assert bilin_cli("cache", "verify", "--root", "outputs/cache", "--remove").returncode == 0
    assert "2 usable, 0 damaged" in bilin_cli("cache", "verify", "--root", "outputs/cache").stdout


def test_a_full_disk_fails_the_run_in_one_line(bilin_cli, tmp_path):
    """An injected ENOSPC on the weights (sitecustomize runs in the bilin process, not in bilin's code)."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import errno, os, pathlib\n"
        "_write = pathlib.Path.write_bytes\n"
        "def write_bytes(self, data):\n"
        "    if 'model.safetensors' in self.name:\n"
        "        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))\n"
        "    return _write(self, data)\n"
        "pathlib.Path.write_bytes = write_bytes\n"
    )
    result = bilin_cli("train", *TINY_ARGS, "hydra.run.dir=run", env={"PYTHONPATH": str(inject)})
    assert_clean_failure(result, "No space left on device", tmp_path)
    assert status_of(tmp_path / "run") == "failed"
    assert not list((tmp_path / "run").glob(".*.tmp"))  # no half-written temp files left behind


def test_run_json_is_strict_json_even_with_a_nan_loss(bilin_cli, tmp_path):
    result = bilin_cli("train", *TINY_ARGS, "epochs=3", "lr=1e12", "wd=0", "noise=0", "hydra.run.dir=run")
    assert result.returncode == 2

    def refuse(constant):
        raise AssertionError(f"run.json holds a bare {constant}")

    record = json.loads((tmp_path / "run" / "run.json").read_text(), parse_constant=refuse)
    assert record["status"] == "failed"


def test_lock_holder_thread_does_not_block_reads(tmp_path):
    """The run lock guards writers only: reading a locked run (a report, an analysis) still works."""
    from bilin.running.folder import RunDir

    run = RunDir(tmp_path / "r")
    run.write_json("run.json", {"status": "running", "loss": float("nan")})
    done = threading.Event()
    with FileLock(tmp_path / "r" / ".lock"):
        threading.Thread(target=lambda: (run.read_json("run.json"), done.set())).start()
        assert done.wait(5)
    assert run.read_json("run.json") == {"status": "running", "loss": None}


def test_the_local_executor_trains_the_grid_in_jobs_with_the_same_numbers(bilin_cli, tmp_path):
    """executor=local runs the cluster path (submitit jobs, real processes) on this machine."""
    grid = ["sizes=[8]", "seeds=[0,1,2]", "epochs=2", "batch_size=64", "k_max=2", "device=cpu", "quiet=true"]
    jobs = bilin_cli("truncate", *grid, "executor=local", "cache_root=jobs_cache", "hydra.run.dir=jobs")
    assert jobs.returncode == 0, jobs.stderr
    inline = bilin_cli("truncate", *grid, "cache_root=inline_cache", "hydra.run.dir=inline")
    assert inline.returncode == 0, inline.stderr
    assert (tmp_path / "jobs" / "truncation.csv").read_text() == (tmp_path / "inline" / "truncation.csv").read_text()
    assert len([p for p in (tmp_path / "jobs_cache").iterdir() if p.is_dir()]) == 3
    assert json.loads((tmp_path / "jobs" / "run.json").read_text())["cache_hits"] == 0
    logs = list((tmp_path / "outputs" / "jobs").glob("*/*/*_log.err"))  # <this grid's submission>/<job id>/
    assert logs, "submitit wrote no job logs"


def test_a_failed_training_job_is_named_with_its_log(bilin_cli, tmp_path):
    grid = ["sizes=[8]", "seeds=[0]", "epochs=3", "batch_size=64", "k_max=2", "device=cpu", "quiet=true"]
    result = bilin_cli("truncate", *grid, "lr=1e12", "wd=0", "noise=0", "executor=local", "hydra.run.dir=run")
    assert_clean_failure(result, "1 of 1 training jobs failed", tmp_path)
    assert "became NaN/inf" in result.stderr and "_log.err" in result.stderr
    assert status_of(tmp_path / "run") == "failed"


def test_cache_add_adopts_a_train_sweep_verified_and_the_grid_hits_it(bilin_cli, tmp_path):
    recipe = ["d_hidden=8", "epochs=2", "batch_size=64", "noise=0.4", "device=cpu", "quiet=true"]
    sweep = bilin_cli("train", "-m", "seed=0,1", *recipe, "hydra.sweep.dir=sweep")
    assert sweep.returncode == 0, sweep.stderr
    runs = [str(tmp_path / "sweep" / str(i)) for i in range(2)]
    damaged = copy_of(tmp_path / "sweep" / "0", tmp_path, "damaged")
    flip_a_bit(damaged / "model.safetensors")
    assert_clean_failure(bilin_cli("cache", "add", str(damaged), "--root", "adopted"), "SHA-256", tmp_path)
    added = bilin_cli("cache", "add", *runs, "--root", "adopted")
    assert added.returncode == 0 and added.stdout.count("added: ") == 2, added.stderr
    grid = ["sizes=[8]", "seeds=[0,1]", "epochs=2", "batch_size=64", "k_max=2", "device=cpu", "quiet=true"]
    result = bilin_cli("truncate", *grid, "cache_root=adopted", "hydra.run.dir=grid")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "grid" / "run.json").read_text())["cache_hits"] == 2


def test_metrics_csv_follows_a_running_job_epoch_by_epoch(tmp_path, tiny_root):
    """Written (atomically) after every epoch, not only at checkpoints: a killed job keeps its history."""
    args = ["train", *TINY_ARGS, "epochs=5000", "checkpoint_every=0", "hydra.run.dir=run"]
    proc = start_bilin(args, tmp_path, {"BILIN_DATA": str(tiny_root)})  # quiet=true: a line per epoch on stdout
    for line in proc.stdout:
        if line.startswith("epoch 3:"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) - 1 >= 3
