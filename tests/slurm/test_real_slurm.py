"""Grids that train their models as jobs of a real Slurm (the `slurm` fixture: one node, this machine,
no accounting): the grid fills the cache and the analysis completes; a job that fails on the node is
named by its id with its log; a signal cancels the jobs with scancel; a refused submission is one line.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import run_bilin, start_bilin
from tests.redteam.harness import assert_one_line_error
from tests.redteam.test_jobs_cases import EXIT_CODES, alive, job_processes, wait_for
from tests.slurm.cluster import HELD_PARTITION, PARTITION

pytestmark = pytest.mark.slow

# two models of d=8, one per job; each job takes one of the node's CPUs and 1 GB
GRID = [
    "truncate", "sizes=[8]", "seeds=[0,1]", "epochs=1", "batch_size=64", "k_max=2", "device=cpu", "quiet=true",
    "executor=slurm", "executor.models_per_job=1", "executor.cpus_per_task=1", "executor.mem_gb=1",
    "hydra.run.dir=run",
]  # fmt: skip
STILL_ON_THE_NODE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING"}
ACCOUNTING_OFF = "Slurm accounting is off (sacct: Slurm accounting storage is disabled)"


def entries(folder: Path) -> list[Path]:
    return sorted((folder / "outputs" / "cache").glob("*/recipe.json"))


def submitted_jobs(slurm, folder: Path) -> dict[str, str]:
    """The states of the Slurm jobs whose job folders are under `folder` (submitit names them by id)."""
    ids = {p.name for p in (folder / "outputs" / "jobs").glob("*/*") if p.is_dir()}
    return {job: state for job, state in slurm.jobs().items() if job in ids}


def test_a_grid_trains_as_slurm_jobs_and_the_analysis_completes(slurm, tmp_path, tiny_root):
    """device=cpu asks for no GPU (the node has none: sbatch would refuse); the log says once that
    accounting is off, and no submitit warning repeats on each poll."""
    result = run_bilin(GRID, tmp_path, {"BILIN_DATA": str(tiny_root)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # nothing from sacct or submitit on the terminal
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"
    assert len(entries(tmp_path)) == 2
    # a job's result is written before its process ends: Slurm may list it RUNNING a moment longer
    states = wait_for(
        lambda: (jobs := submitted_jobs(slurm, tmp_path)) and not set(jobs.values()) & STILL_ON_THE_NODE and jobs,
        "the jobs' processes to end",
        seconds=60,
    )
    assert sorted(states.values()) == ["COMPLETED", "COMPLETED"]
    log = (tmp_path / "run" / "truncate.log").read_text()
    assert log.count(ACCOUNTING_OFF) == 1 and "Bypassing sacct" not in log, log
    polls = [line for line in log.splitlines() if "training jobs:" in line]
    assert len(polls) == len(set(polls)), polls  # a line when the count changes, not one per poll


def test_a_job_that_fails_on_the_node_is_named_by_its_id_with_its_log(slurm, tmp_path, tiny_root):
    """The jobs wait in a partition that is down while their data is taken away, then run: they fail
    on the node, and the command names the first by its Slurm id and log."""
    data = shutil.copytree(tiny_root, tmp_path / "data")
    args = [*GRID, f"executor.partition={HELD_PARTITION}", "data.download=false"]
    proc = start_bilin(args, tmp_path, {"BILIN_DATA": str(data)})
    try:
        waiting = wait_for(
            lambda: len(submitted_jobs(slurm, tmp_path)) == 2 and submitted_jobs(slurm, tmp_path), "2 jobs"
        )
        assert set(waiting.values()) == {"PENDING"}
        shutil.rmtree(data / "MNIST")
        array = next(iter(waiting)).split("_")[0]
        slurm.run("scontrol", "update", f"JobId={array}", f"Partition={PARTITION}")
        _out, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert_one_line_error(subprocess.CompletedProcess(args, proc.returncode, "", err), "2 of 2 training jobs failed")
    first = re.search(r"First: job (\S+) \(1 models, d=8\): .*\(log (\S+)\)$", err.strip())
    assert first and first.group(1) in waiting, err
    assert Path(first.group(2)).is_file() and "MNIST" in err  # the job's own error names what it lacked
    assert not entries(tmp_path)


def test_sigint_cancels_the_slurm_jobs_and_none_completes(slurm, tmp_path, tiny_root):
    long = [a if not a.startswith("epochs=") else "epochs=100000" for a in GRID]
    proc = start_bilin(long, tmp_path, {"BILIN_DATA": str(tiny_root)})
    try:
        running = wait_for(
            lambda: (s := submitted_jobs(slurm, tmp_path)) and list(s.values()) == ["RUNNING", "RUNNING"] and s,
            "2 running jobs",
        )
        workers = wait_for(lambda: len(job_processes(tmp_path)) >= 2 and job_processes(tmp_path), "the jobs' python")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_CODES[signal.SIGINT], err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bilin: error: stopped by SIGINT"), err
    assert "cancelled 2 training jobs (slurm), all ended" in lines[0], lines[0]
    assert set(submitted_jobs(slurm, tmp_path)) == set(running)
    assert set(submitted_jobs(slurm, tmp_path).values()) == {"CANCELLED"}
    wait_for(lambda: not any(alive(pid) for pid in workers), "the cancelled jobs' processes to end", seconds=15)
    time.sleep(2)  # a job that had survived would go on to store its entry
    assert not entries(tmp_path)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"


def test_a_submission_slurm_refuses_is_one_line_and_leaves_nothing(slurm, tmp_path, tiny_root):
    """GPUs asked for on a node without any: sbatch's own reason, in one line."""
    before = slurm.jobs()
    result = run_bilin([*GRID, "executor.gpus_per_node=1"], tmp_path, {"BILIN_DATA": str(tiny_root)})
    assert_one_line_error(result, "sbatch refused the training jobs: Invalid generic resource (gres) specification")
    assert slurm.jobs().keys() == before.keys()
    assert not list((tmp_path / "outputs" / "jobs").glob("*"))
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_a_train_sweep_through_hydras_slurm_launcher_says_once_that_accounting_is_off(slurm, tmp_path, tiny_root):
    sweep = ["train", "-m", "hydra/launcher=submitit_slurm", "seed=1,2", "d_hidden=8", "epochs=1", "batch_size=64"]
    launcher = ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "device=cpu", "quiet=true"]
    result = run_bilin([*sweep, *launcher], tmp_path, {"BILIN_DATA": str(tiny_root)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # neither sacct's complaint nor submitit's warning, poll after poll
    assert result.stdout.count(ACCOUNTING_OFF) == 1 and "Bypassing sacct" not in result.stdout, result.stdout
    records = sorted((tmp_path / "outputs" / "multirun" / "train").glob("*/*/*/run.json"))
    assert [json.loads(r.read_text())["status"] for r in records] == ["complete", "complete"]
