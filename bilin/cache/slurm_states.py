"""The states of a command's Slurm jobs, also where Slurm keeps no accounting.

submitit asks `sacct` for every job's state. Many small clusters (and a single node set up by hand)
store no accounting, so `sacct` fails on every poll: submitit then logs a warning each time, and
never learns that a job ended without writing its result, so the command would wait for it forever.
`JobStates` asks `sacct` until it fails once, says so once, and from then on reads the states from
`squeue`, which shows the controller's jobs, finished ones too for a while (MinJobAge, 300 s by
default); a job it no longer lists has ended. A job that wrote its result is done in any case
(submitit looks for the result file first).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable

from submitit.slurm.slurm import SlurmInfoWatcher

from bilin.errors import Interrupted

log = logging.getLogger("bilin.cache.jobs")
GONE = "ENDED"  # the state of a job squeue no longer lists: it ended, how is not known
SQUEUE = ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T|%r"]  # id, state, why it waits


class JobStates(SlurmInfoWatcher):
    """submitit's watcher for the jobs of one command; `say` is told once when sacct cannot answer."""

    def __init__(self, say: Callable[[str], None], delay_s: int = 600) -> None:
        super().__init__(delay_s=delay_s)
        self._say = say
        self.without_sacct = False

    def update(self) -> None:
        command = self._make_command()
        if command is None:
            return
        self._num_calls += 1
        if not self.without_sacct:
            try:
                self._output = _output(command)
                self._info_dict.update(self.read_info(self._output))
            except (OSError, subprocess.SubprocessError) as exc:
                self.without_sacct = True
                self._say(sacct_off_line(exc))
        if self.without_sacct:
            self._info_dict.update(self._squeue_states())
        self._last_status_check = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)

    def _squeue_states(self) -> dict[str, dict[str, str]]:
        """{job id: {"State": ...}} of the jobs still followed; {} when squeue cannot answer now."""
        waiting = sorted(self._registered - self._finished)
        arrays = sorted({job_id.split("_")[0] for job_id in waiting})
        try:
            listed = _output([*SQUEUE, f"--jobs={','.join(arrays)}"]).decode()
        except subprocess.CalledProcessError as exc:
            if b"Invalid job id" not in (exc.stderr or b""):  # squeue refuses a list of only forgotten jobs
                return {}  # the controller is not answering: nothing is known, so nothing ended
            listed = ""
        except (OSError, subprocess.SubprocessError):
            return {}
        rows = [line.split("|") for line in listed.splitlines() if line.count("|") == 2]
        known = {job_id: {"JobID": job_id, "State": state, "Reason": reason} for job_id, state, reason in rows}
        return {job_id: known.get(job_id, {"JobID": job_id, "State": GONE}) for job_id in waiting}


def how_they_wait(jobs: list) -> str:
    """The states of jobs not done yet, as the last poll found them (no new call): e.g. "1 running,
    2 pending (Resources)", with Slurm's reason when squeue gave one; "" when nothing is known."""
    reasons: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for job in jobs:
        info = job.watcher.get_info(job.job_id, mode="cache")
        state = info.get("State", "").split(" ")[0].lower()  # sacct says "CANCELLED by 0"
        if state:
            counts[state] = counts.get(state, 0) + 1
            if info.get("Reason", "None") != "None":
                reasons.setdefault(state, set()).add(info["Reason"])
    return ", ".join(
        f"{count} {state}" + (f" ({', '.join(sorted(reasons[state]))})" if state in reasons else "")
        for state, count in sorted(counts.items(), key=lambda item: -item[1])
    )


def follow_states(jobs: list, report: Callable[[str], None]) -> None:
    """The Slurm jobs' states from sacct, or from squeue where sacct cannot answer (said once)."""

    def note(text: str) -> None:  # called inside submitit's polls, the cancelling ones too: it must not raise
        try:
            report(text)
        except Interrupted:  # the wait loop or the cancel acts on the stop; the note still goes to the log
            log.info(text)

    states = JobStates(note)
    for job in jobs:
        job.watcher = states
        states.register_job(job.job_id)


def _output(command: list[str]) -> bytes:
    """stdout of a Slurm command; its stderr is kept (in the error), not left on the terminal."""
    return subprocess.run(command, capture_output=True, check=True, timeout=60).stdout


def sacct_off_line(exc: BaseException) -> str:
    said = getattr(exc, "stderr", b"") or b""
    said = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
    reason = next((line.strip() for line in said.splitlines() if line.strip()), "") or str(exc)
    follow = "job states come from squeue and the jobs' result files"
    if "accounting storage is disabled" in reason:
        return f"Slurm accounting is off (sacct: {reason}): {follow}"
    return f"sacct cannot answer ({reason[:200]}): {follow}"
