"""Issue 20, faults 6 and 8: grids that train their models as submitit jobs.

A refused or impossible submission ends in one line and leaves nothing behind; a job that fails
on its node, or whose result cannot be read, ends in one line; a signal on the command cancels
every job and waits for them to end. Slurm is played by a stand-in for its commands on PATH
(FAKE_TOOL below: sbatch, srun, sacct, scancel), told what to do by the environment.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import start_bilin
from tests.redteam.harness import Case, run_case

GRID = ["sizes=[8]", "seeds=[0,1]", "epochs=2", "batch_size=64", "k_max=2", "device=cpu", "quiet=true"]
SLURM_GRID = ("truncate", *GRID, "executor=slurm", "executor.models_per_job=1", "hydra.run.dir={w}/run")
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

FAKE_TOOL = f"""#!{sys.executable}
import os, pickle, re, signal, sys, time
from pathlib import Path

here, tool = Path(__file__).parent, Path(sys.argv[0]).name
ends = os.environ.get("JOBS_END", "")  # "": running until scancel; error | garbage | done
if tool == "sbatch":
    if os.environ.get("SBATCH_SIGNALS_PARENT"):  # the user's signal arrives while sbatch runs
        os.kill(os.getppid(), getattr(signal, os.environ["SBATCH_SIGNALS_PARENT"]))
        time.sleep(1)
    code = int(os.environ.get("SBATCH_EXIT", "0"))
    if code:
        print(os.environ.get("SBATCH_SAYS", ""), file=sys.stderr, end="")
        sys.exit(code)
    script = Path(sys.argv[1])
    array = re.search(r"--array=0-(\\d+)", script.read_text())
    ids = [f"4242_{{i}}" for i in range(int(array.group(1)) + 1)] if array else ["4242"]
    (here / "ids").write_text(" ".join(ids))
    results = {{"error": pickle.dumps(("error", "Traceback:\\ntorch.OutOfMemoryError: CUDA out of memory")),
               "garbage": b"not a pickle", "done": pickle.dumps(("success", []))}}
    for job in ids if ends in results else []:
        (script.parent / job).mkdir(exist_ok=True)
        (script.parent / job / f"{{job}}_0_result.pkl").write_bytes(results[ends])
    print(os.environ.get("SBATCH_OUT", "Submitted batch job 4242"))
elif tool == "sacct":
    state = {{"error": "FAILED", "garbage": "COMPLETED", "done": "COMPLETED"}}.get(ends, "RUNNING")
    state = "CANCELLED" if (here / "scancel.log").exists() else state
    print("JobID|State|NodeList")
    for job in (here / "ids").read_text().split() if (here / "ids").exists() else []:
        print(f"{{job}}|{{state}}|node0")
elif tool == "scancel":
    with (here / "scancel.log").open("a") as log:
        log.write(" ".join(sys.argv[1:]) + "\\n")
"""


def fake_slurm(*tools: str):
    """A setup that puts the stand-in, under the given names, in <world>/bin (the case's whole PATH)."""

    def setup(world: Path) -> None:
        (world / "bin").mkdir(parents=True)
        for tool in tools:
            (world / "bin" / tool).write_text(FAKE_TOOL)
            (world / "bin" / tool).chmod(0o755)

    return setup


SLURM = ("sbatch", "srun", "sacct", "scancel")
ON_PATH = {"PATH": "{w}/bin"}


def nothing_submitted(world: Path, _result) -> None:
    assert [p.name for p in (world / "outputs" / "jobs").glob("*")] in ([], ["another-grid"])
    assert json.loads((world / "run" / "run.json").read_text())["status"] == "failed"


def another_grids_jobs(world: Path) -> None:
    fake_slurm(*SLURM)(world)
    (world / "outputs" / "jobs" / "another-grid").mkdir(parents=True)
    (world / "outputs" / "jobs" / "another-grid" / "123_submitted.pkl").write_bytes(b"theirs")


def older_sweep(world: Path) -> None:
    """A sweep folder holding an earlier sweep's submitit files: a refusal now must leave them."""
    fake_slurm(*SLURM)(world)
    (world / "sweeps" / ".submitit" / "4000_0").mkdir(parents=True)
    (world / "sweeps" / ".submitit" / "4000_0" / "4000_0_submitted.pkl").write_bytes(b"an earlier sweep's")


LAUNCHER_SWEEP = ("train", "-m", "seed=1,2", "hydra/launcher=submitit_slurm", "d_hidden=8", "quiet=true")


def refused(says: str, exit_code: int = 1) -> dict[str, str]:
    return {**ON_PATH, "SBATCH_SAYS": says, "SBATCH_EXIT": str(exit_code)}


GRES = "sbatch: error: Batch job submission failed: Invalid generic resource (gres) specification\n"
PARTITION = "sbatch: error: invalid partition specified: gpu\nsbatch: error: Batch job submission failed: Invalid partition name specified\n"  # noqa: E501

CASES = [
    Case("slurm-without-any-tool", 8, SLURM_GRID, "not found: sbatch, srun, sacct, scancel", own=("run", "bin"),
         setup=fake_slurm(), env=ON_PATH, check=nothing_submitted),
    Case("slurm-with-sbatch-only", 8, SLURM_GRID, "not found: srun, sacct, scancel", own=("run", "bin"),
         setup=fake_slurm("sbatch"), env=ON_PATH, check=nothing_submitted),
    Case("slurm-refused-gres", 8, (*SLURM_GRID, "executor.gpus_per_node=9"),
         "sbatch refused the training jobs: Batch job submission failed: Invalid generic resource (gres) specification",
         own=("run", "bin"), setup=fake_slurm(*SLURM), env=refused(GRES), check=nothing_submitted),
    Case("slurm-refused-partition", 8, (*SLURM_GRID, "executor.partition=gpu"),
         "invalid partition specified: gpu; Batch job submission failed: Invalid partition name specified",
         own=("run", "bin"), setup=fake_slurm(*SLURM), env=refused(PARTITION), check=nothing_submitted),
    Case("slurm-refused-one-job-not-an-array", 8, tuple(a.replace("[0,1]", "[0]") for a in SLURM_GRID),
         "sbatch refused the training jobs: Batch job submission failed: Invalid generic resource",
         own=("run", "bin"), setup=fake_slurm(*SLURM), env=refused(GRES), check=nothing_submitted),
    Case("slurm-refused-without-a-word", 8, SLURM_GRID, "sbatch refused the training jobs: exit status 3, no message",
         own=("run", "bin"), setup=fake_slurm(*SLURM), env=refused("", 3), check=nothing_submitted),
    Case("slurm-answer-without-job-id", 8, SLURM_GRID, "sbatch answered without a job id ('queued, maybe')",
         own=("run", "bin"), setup=fake_slurm(*SLURM), env={**ON_PATH, "SBATCH_OUT": "queued, maybe"},
         check=nothing_submitted),
    Case("slurm-refused-keeps-another-grids-jobs", 8, SLURM_GRID, "Invalid generic resource (gres)",
         own=("run", "bin"), setup=another_grids_jobs, env=refused(GRES), check=nothing_submitted),
    Case("slurm-jobs-fail-on-their-node", 8, SLURM_GRID,
         "2 of 2 training jobs failed; the others' models are kept in the cache, so a re-run trains only what is "
         "missing. First: job 4242_0 (1 models, d=8): torch.OutOfMemoryError: CUDA out of memory",
         own=("run", "bin", "outputs"), setup=fake_slurm(*SLURM), env={**ON_PATH, "JOBS_END": "error"}),
    Case("slurm-job-result-unreadable", 8, SLURM_GRID, "_0_result.pkl could not be read (UnpicklingError",
         own=("run", "bin", "outputs"), setup=fake_slurm(*SLURM), env={**ON_PATH, "JOBS_END": "garbage"}),
    Case("slurm-jobs-end-but-models-missing", 8, SLURM_GRID, "ended, but 2 models are not in the cache",
         own=("run", "bin", "outputs"), setup=fake_slurm(*SLURM), env={**ON_PATH, "JOBS_END": "done"}),
    # Hydra's own Slurm launcher (a multirun of train): the same one line, and nothing left behind
    Case("launcher-slurm-without-tools", 8, LAUNCHER_SWEEP, "hydra/launcher=submitit_slurm needs the Slurm commands",
         own=("bin",), setup=fake_slurm(), env=ON_PATH),
    Case("launcher-slurm-refused", 8, LAUNCHER_SWEEP,
         "sbatch refused the training jobs: Batch job submission failed: Invalid generic resource (gres)",
         own=("bin",), setup=fake_slurm(*SLURM), env=refused(GRES)),
    Case("launcher-slurm-refused-in-a-named-sweep-folder", 8, (*LAUNCHER_SWEEP, "hydra.sweep.dir={w}/sweeps"),
         "invalid partition specified: gpu", own=("bin",), setup=older_sweep, env=refused(PARTITION)),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_jobs_case(case: Case, tmp_path: Path, tiny_root: Path) -> None:
    world = tmp_path / "world"
    world.mkdir()
    env = {name: value.replace("{w}", str(world)) for name, value in case.env.items()}
    run_case(replace(case, env=env), world, tiny_root)


# Signals: the command is stopped while its jobs run (or while sbatch submits them).


def job_processes(under: Path) -> dict[int, str]:
    """The submitit processes (controllers and the jobs they run) whose command line names `under`."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if "submitit" in line and str(under) in line and alive(int(entry.name)):
            found[int(entry.name)] = line
    return found


def jobs_running(under: Path, count: int) -> dict[int, str]:
    """The submitit processes under `under` once `count` jobs run (each a controller and its job), else {}."""
    found = job_processes(under)
    return found if sum("submitit.core._submit" in line for line in found.values()) == count else {}


def alive(pid: int) -> bool:
    """Running, or stopped; a zombie (killed, not yet reaped by its new parent) has ended."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_for(condition, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)
    return value


def assert_cancelled(proc, sig: signal.Signals, fragment: str) -> None:
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_CODES[sig], err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bilin: error: stopped by {sig.name}"), err
    assert fragment in lines[0] and "Traceback" not in err, lines[0]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds the job processes in /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_cancels_the_local_jobs_and_waits_for_them(sig, tmp_path, tiny_root):
    long = [a if not a.startswith("epochs=") else "epochs=100000" for a in GRID]
    args = ["truncate", *long, "executor=local", "executor.models_per_job=1", "hydra.run.dir=run"]
    proc = start_bilin(args, tmp_path, {"BILIN_DATA": str(tiny_root)})
    try:
        workers = wait_for(lambda: jobs_running(tmp_path, 2), "two training jobs")
        proc.send_signal(sig)
        assert_cancelled(proc, sig, "cancelled 2 training jobs (local), all ended")
        wait_for(lambda: not any(alive(pid) for pid in workers), "the killed jobs to be gone", seconds=10)
        time.sleep(2)  # a job that had survived would go on to store its entry
        assert not list((tmp_path / "outputs" / "cache").glob("*/recipe.json"))
        assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"
    finally:  # a failure here must not leave jobs training on
        proc.kill()
        for pid in job_processes(tmp_path):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_signal_cancels_the_slurm_jobs_with_scancel(tmp_path, tiny_root):
    fake_slurm(*SLURM)(tmp_path)
    args = [a.replace("{w}", str(tmp_path)) for a in SLURM_GRID]
    proc = start_bilin(args, tmp_path, {"BILIN_DATA": str(tiny_root), "PATH": str(tmp_path / "bin")})
    wait_for(lambda: len(list((tmp_path / "outputs" / "jobs").glob("*/4242_*/*_submitted.pkl"))) == 2, "submission")
    proc.send_signal(signal.SIGTERM)
    assert_cancelled(proc, signal.SIGTERM, "cancelled 2 training jobs (slurm), all ended")
    assert (tmp_path / "bin" / "scancel.log").read_text() == "4242_0 4242_1\n"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_sbatch_still_cancels_what_it_submitted(sig, tmp_path, tiny_root):
    """The signal is held until the jobs are known: stopping at once would leave them untracked."""
    fake_slurm(*SLURM)(tmp_path)
    env = {"BILIN_DATA": str(tiny_root), "PATH": str(tmp_path / "bin"), "SBATCH_SIGNALS_PARENT": sig.name}
    proc = start_bilin([a.replace("{w}", str(tmp_path)) for a in SLURM_GRID], tmp_path, env)
    assert_cancelled(proc, sig, "cancelled 2 training jobs (slurm), all ended")
    assert (tmp_path / "bin" / "scancel.log").read_text() == "4242_0 4242_1\n"
    assert os.listdir(tmp_path / "outputs" / "jobs")  # the cancelled jobs' folder stays, with their logs


LAUNCHER_LONG = ["train", "-m", "seed=1,2", "d_hidden=8", "epochs=100000", "batch_size=64", "quiet=true"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds the job processes in /proc")
def test_a_signal_cancels_the_jobs_of_hydras_submitit_launcher(tmp_path, tiny_root):
    """Hydra's own launcher holds no job a signal could reach: bilin records what submitit submits."""
    proc = start_bilin([*LAUNCHER_LONG, "hydra/launcher=submitit_local"], tmp_path, {"BILIN_DATA": str(tiny_root)})
    try:
        workers = wait_for(lambda: jobs_running(tmp_path, 2), "two sweep jobs")
        runs = tmp_path / "outputs" / "multirun"
        records = wait_for(
            lambda: [*runs.glob("train/*/*/[01]/run.json")][1:] and sorted(runs.glob("train/*/*/*/run.json")),
            "both runs started",
        )
        proc.send_signal(signal.SIGTERM)
        assert_cancelled(proc, signal.SIGTERM, "the sweep did not finish; cancelled 2 sweep jobs (local), all ended")
        wait_for(lambda: not any(alive(pid) for pid in workers), "the killed jobs to be gone", seconds=10)
        assert [json.loads(r.read_text())["status"] for r in records] == ["interrupted", "interrupted"]
    finally:
        proc.kill()
        for pid in job_processes(tmp_path):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_signal_cancels_the_slurm_jobs_of_hydras_submitit_launcher(tmp_path, tiny_root):
    fake_slurm(*SLURM)(tmp_path)
    env = {"BILIN_DATA": str(tiny_root), "PATH": str(tmp_path / "bin")}
    proc = start_bilin([*LAUNCHER_LONG, "hydra/launcher=submitit_slurm"], tmp_path, env)
    wait_for(lambda: (tmp_path / "bin" / "ids").is_file(), "submission")
    time.sleep(1)  # the launcher now waits on the jobs
    proc.send_signal(signal.SIGTERM)
    assert_cancelled(proc, signal.SIGTERM, "cancelled 2 sweep jobs (slurm), all ended")
    assert (tmp_path / "bin" / "scancel.log").read_text() == "4242_0 4242_1\n"
