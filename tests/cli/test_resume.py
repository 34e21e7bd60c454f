"""Ctrl-C / SIGTERM save the last completed epoch; `bilin train resume=` finishes bit-identically."""

import json
import signal
import subprocess
import time

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import TINY_ARGS, run_bilin, start_bilin

pytestmark = pytest.mark.slow  # each test trains or renders through the CLI

LONG_RUN = [*TINY_ARGS, "epochs=300", "checkpoint_every=0"]


def start_and_signal(cwd, env, sig) -> subprocess.CompletedProcess:
    proc = start_bilin(["train", *LONG_RUN, "hydra.run.dir=run"], cwd, env)
    for line in proc.stdout:  # quiet mode prints one line per finished epoch
        if line.startswith("epoch 3:"):
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, tiny_root):
    """The weights of the long run trained without a stop, the reference of every resume."""
    where = tmp_path_factory.mktemp("straight")
    straight = run_bilin(["train", *LONG_RUN, "hydra.run.dir=straight"], where, {"BILIN_DATA": str(tiny_root)})
    assert straight.returncode == 0, straight.stderr
    return load_file(str(where / "straight" / "model.safetensors"))


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupt_then_resume_is_bit_identical(tmp_path, tiny_root, straight_run, sig, code):
    env = {"BILIN_DATA": str(tiny_root)}
    stopped = start_and_signal(tmp_path, env, sig)
    assert stopped.returncode == code, stopped.stderr
    assert "Traceback" not in stopped.stderr and "resume=" in stopped.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "interrupted"
    done = record["epochs_completed"]
    assert 3 <= done < 300
    metrics = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == done + 1  # header + one row per completed epoch

    resumed = run_bilin(["train", f"resume={tmp_path / 'run'}", "quiet=true"], tmp_path, env)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "complete" and record["epochs_completed"] == 300

    a = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(torch.equal(a[k], straight_run[k]) for k in straight_run)
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 301


def test_resume_refuses_bad_requests(tmp_path, tiny_root):
    env = {"BILIN_DATA": str(tiny_root)}
    missing = run_bilin(["train", f"resume={tmp_path / 'nope'}"], tmp_path, env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr

    done = run_bilin(["train", *TINY_ARGS, "hydra.run.dir=done"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    again = run_bilin(["train", f"resume={tmp_path / 'done'}"], tmp_path, env)
    assert again.returncode == 2 and "already complete" in again.stderr

    extra = run_bilin(["train", f"resume={tmp_path / 'done'}", "lr=1"], tmp_path, env)
    assert extra.returncode == 2 and "only device= and quiet=" in extra.stderr
    for result in (missing, again, extra):
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_any_command_stopped_by_a_signal_is_marked_interrupted(tmp_path, tiny_root, sig, code):
    """Not only train: an analysis command's run.json ends `interrupted`, never stays `running`."""

    grid = ["sizes=[48]", "seeds=[0,1]", "epochs=400", "batch_size=64", "k_max=4", "device=cpu", "hydra.run.dir=run"]
    proc = start_bilin(["truncate", *grid], tmp_path, {"BILIN_DATA": str(tiny_root)})
    for line in proc.stderr:  # the cache says what it trains before it starts
        if "model-epochs on" in line:  # the plan line, printed before training starts
            time.sleep(0.5)
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("bilin: error: stopped by") and "truncate did not finish" in lines[-1]
    assert "Traceback" not in err
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "interrupted" and "stopped by" in record["error"]
