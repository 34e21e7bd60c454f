"""Without a cluster: the Slurm jobs' states where sacct has no accounting (stand-ins for sacct and
squeue on PATH), and the GPUs a job asks for by default."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from bilin.cache import jobs
from bilin.cache.slurm_states import GONE, JobStates, follow_states, how_they_wait
from bilin.errors import Interrupted
from bilin.settings.options import ExecutorConfig

TOOL = f"""#!{sys.executable}
import os, sys
from pathlib import Path
here = Path(__file__).parent
with (here / "calls").open("a") as calls:
    calls.write(Path(sys.argv[0]).name + "\\n")
if Path(sys.argv[0]).name == "sacct":
    sys.exit(print("Slurm accounting storage is disabled", file=sys.stderr) or 1)
said = (here / "squeue-says").read_text()
if said.startswith("error:"):
    sys.exit(print(said[6:], file=sys.stderr) or 1)
print(said, end="")
"""


@pytest.fixture
def tools(tmp_path, monkeypatch) -> Path:
    for name in ("sacct", "squeue"):
        (tmp_path / name).write_text(TOOL)
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


def poll(states: JobStates, job_ids: list[str], squeue_says: str, tools: Path) -> dict[str, str]:
    (tools / "squeue-says").write_text(squeue_says)
    states.update()
    return {job_id: states.get_state(job_id, mode="cache") for job_id in job_ids}


def test_without_accounting_states_come_from_squeue_and_it_is_said_once(tools, caplog):
    said: list[str] = []
    states = JobStates(said.append)
    ids = ["7_0", "7_1", "8"]
    for job_id in ids:
        states.register_job(job_id)
    with caplog.at_level(logging.DEBUG):
        assert poll(states, ids, "7_0|RUNNING|None\n7_1|PENDING|Resources\n8|RUNNING|None\n", tools) == dict(
            zip(ids, ["RUNNING", "PENDING", "RUNNING"], strict=True)
        )
        assert poll(states, ids, "error:slurm_load_jobs error: Unable to contact slurm controller", tools) == dict(
            zip(ids, ["RUNNING", "PENDING", "RUNNING"], strict=True)
        )  # the controller not answering ends no job
        followed = [type("Job", (), {"job_id": job_id, "watcher": states})() for job_id in ids]
        assert how_they_wait(followed) == "2 running, 1 pending (Resources)"  # the poll's line
        assert poll(states, ids, "7_0|COMPLETED|None\n7_1|RUNNING|None\n", tools) == dict(
            zip(ids, ["COMPLETED", "RUNNING", GONE], strict=True)
        )  # 8: forgotten by the controller, so it ended
        assert poll(states, ids, "error:slurm_load_jobs error: Invalid job id specified", tools)["7_1"] == GONE
    assert said == [
        "Slurm accounting is off (sacct: Slurm accounting storage is disabled): job states come from squeue and "
        "the jobs' result files"
    ]
    assert all(states.is_done(job_id, mode="cache") for job_id in ids)
    assert (tools / "calls").read_text().split().count("sacct") == 1  # not asked again after it failed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # submitit's "Bypassing sacct error"


def test_a_stop_while_the_note_is_said_does_not_cut_the_polling_short(tools, caplog):
    """The note is said from inside submitit's polls, the cancelling ones too: a stop there must not raise."""

    def stopping(_text: str) -> None:
        raise Interrupted("stopped by SIGINT", "SIGINT")

    job = type("Job", (), {"job_id": "9_0"})()
    with caplog.at_level(logging.INFO, logger="bilin.cache.jobs"):
        follow_states([job], stopping)
        (tools / "squeue-says").write_text("9_0|CANCELLED|None\n")
        assert job.watcher.is_done("9_0", mode="force")
    assert "Slurm accounting is off" in caplog.text


@pytest.mark.parametrize(
    ("gpus_per_node", "device", "asked"),
    [(None, "cpu", 0), (None, "cuda", 1), (None, "auto", 1), (0, "cuda", 0), (2, "cpu", 2)],
)
def test_gpus_per_job_follow_the_device_unless_given(gpus_per_node, device, asked, tmp_path):
    handed: dict = {}

    class AutoExecutor:
        def __init__(self, folder, cluster):
            pass

        def update_parameters(self, **params):
            handed.update(params)

        def map_array(self, *args):
            return []

    submitit = type("submitit", (), {"AutoExecutor": AutoExecutor})
    executor = ExecutorConfig(name="slurm", gpus_per_node=gpus_per_node)
    jobs._submit(submitit, executor, tmp_path, [], [], device)
    assert handed["gpus_per_node"] == asked
