"""Training the models a grid lacks as submitit jobs: local processes (`executor=local`) or a
SLURM array (`executor=slurm`). Each job trains one group of models into the shared cache under
the entries' locks; the command waits, showing the jobs' progress, and analyses when all are in.

No job outlives the command unless it finished: a signal (or any other end) while the command
waits cancels every job still running and waits for them to end. A submission that fails leaves
nothing behind: each command submits into a folder of its own under `executor.folder`.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, suppress
from pathlib import Path
from typing import Any

from bilin.device import resolve_device
from bilin.errors import Interrupted, UserError
from bilin.train.records import StopRequest

SLURM_TOOLS = ("sbatch", "srun", "sacct", "scancel")  # submit, run, follow and cancel
CANCEL_WAIT_SECONDS = 30.0  # how long cancelled jobs may take to end (Slurm sends SIGTERM, then SIGKILL)
CANCEL_POLL_SECONDS = 0.5
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)
CONTROLLER_LOG = "controllers.err"  # local jobs: what submitit's controller processes print


def train_in_jobs(
    cache: Any,  # a ModelCache: pickled into each job without its loaded datasets
    batches: list[list[Any]],
    executor: Any,  # an ExecutorConfig
    device: str,
    report: Callable[[str], None],
    stop: StopRequest,
    poll_seconds: float = 2.0,
) -> None:
    import submitit

    if executor.name == "slurm":
        check_slurm_tools("executor=slurm")
    logging.getLogger("submitit").handlers.clear()  # its lines go to the run's log, not the terminal
    # each job reads the data from the folder found here, and the cache too (its working folder may differ)
    lights = [type(cache)(Path(cache.root).absolute(), cache.dataset(b[0]).root, cache.download) for b in batches]
    jobs, folder, held = _submit_in_own_folder(submitit, executor, lights, batches, device)
    if executor.name == "slurm":
        from bilin.cache.slurm_states import follow_states

        follow_states(jobs, report)
    try:
        report(f"{len(jobs)} training jobs submitted ({executor.name}); logs in {folder}")
        if held:
            signal.raise_signal(held[0])  # the command's own handler acts on it now that the jobs are known
        _wait(jobs, report, stop, poll_seconds, executor.name == "slurm")
    except BaseException as exc:  # a signal, or a fault: the jobs must not train on unobserved
        ended = cancel_jobs(jobs, executor.name)
        if isinstance(exc, Interrupted):
            raise Interrupted(f"{exc}; {ended}", exc.signal_name) from None
        raise
    _collect(cache, jobs, batches)


def _submit_in_own_folder(submitit: Any, executor: Any, lights: list, batches: list, device: str) -> tuple:
    """The jobs, submitted into a new folder under `executor.folder`; the signals that came meanwhile.
    A submission that fails removes its folder (and the empty ones made for it) and says why in one line."""
    made = _missing_folders(Path(executor.folder))
    folder, held = None, []
    try:
        with signals_held() as held:  # a signal now would lose track of jobs already started
            for parent in reversed(made):
                parent.mkdir()
            folder = Path(tempfile.mkdtemp(prefix=time.strftime("%Y-%m-%d_%H-%M-%S_"), dir=executor.folder))
            jobs = _submit(submitit, executor, folder, lights, batches, device)
    except BaseException as exc:
        _remove(folder, made)
        if held:
            signal.raise_signal(held[0])
        if isinstance(exc, submitit.core.utils.FailedJobError | submitit.core.utils.FailedSubmissionError):
            raise UserError(sbatch_refusal(exc)) from None
        raise
    return jobs, folder, held


def check_slurm_tools(who: str) -> None:
    """One line naming the Slurm commands `who` (e.g. "executor=slurm") needs but cannot find on PATH."""
    missing = [tool for tool in SLURM_TOOLS if shutil.which(tool) is None]
    if missing:
        raise UserError(
            f"{who} needs the Slurm commands {', '.join(SLURM_TOOLS)} on PATH; not found: "
            f"{', '.join(missing)} (run on a Slurm login node, or use executor=local or executor=inline)"
        )


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and its ancestors that do not exist yet, deepest first: what a failed submission removes."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove(folder: Path | None, made: list[Path]) -> None:
    """This submission's own folder, and the empty folders made for it (another command's stay)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    for parent in made:
        with suppress(OSError):
            parent.rmdir()


def _submit(submitit: Any, executor: Any, folder: Path, lights: list, batches: list, device: str) -> list:
    """One job per batch: a SLURM array (one sbatch: all or nothing), or local processes one by one
    (those started before a failure are cancelled)."""
    devices = [device] * len(batches)
    if executor.name == "slurm":
        submitter = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
        submitter.update_parameters(
            name="bilin-train",
            slurm_partition=executor.partition,
            gpus_per_node=executor.gpus(device),
            cpus_per_task=executor.cpus_per_task,
            mem_gb=executor.mem_gb,
            timeout_min=executor.timeout_min,
            slurm_array_parallelism=executor.array_parallelism,
        )
        with redirect_stderr(io.StringIO()):  # submitit prints sbatch's error; it is raised as well
            return submitter.map_array(_train_job, lights, batches, devices)
    submitter = submitit.LocalExecutor(folder=folder / "%j")
    submitter.update_parameters(timeout_min=executor.timeout_min, cpus_per_task=executor.cpus_per_task)
    jobs: list = []
    try:
        # a job's controller inherits stderr: its traceback when cancelled (SIGINT) goes to a log, not the terminal
        with stderr_into(folder / CONTROLLER_LOG):
            for args in zip(lights, batches, devices, strict=True):
                jobs.append(submitter.submit(_train_job, *args))
    except BaseException:
        cancel_jobs(jobs, executor.name)
        raise
    return jobs


def sbatch_refusal(exc: BaseException) -> str:
    """sbatch's own words, in one line, for submitit's FailedJobError (refused) or FailedSubmissionError."""
    cause = exc.__cause__
    text = str(exc).strip() or str(getattr(cause, "output", "") or "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Could not make sense of sbatch output" in text:
        answer = lines[0].split('"', 1)[-1].rstrip('"') if lines else ""
        return (
            f"sbatch answered without a job id ({answer[:200]!r}), so the training jobs cannot be followed; "
            "check `squeue --me` for jobs named bilin-train"
        )
    errors = [re.sub(r"^sbatch:\s*error:\s*", "", line) for line in lines if "error" in line.lower()] or lines[-1:]
    said = "; ".join(dict.fromkeys(errors))
    if not said:
        said = f"exit status {getattr(cause, 'returncode', '?')}, no message"
    return f"sbatch refused the training jobs: {said[:400]}"


def _wait(jobs: list, report: Callable[[str], None], stop: StopRequest, poll_seconds: float, slurm: bool) -> None:
    """One line per poll (logged only when it changes); Slurm's jobs say how they wait (pending: why)."""
    while (done := [job.done() for job in jobs]).count(True) < len(jobs):
        line = f"training jobs: {done.count(True)}/{len(jobs)} done"
        if slurm:
            from bilin.cache.slurm_states import how_they_wait

            if waiting := how_they_wait([job for job, ended in zip(jobs, done, strict=True) if not ended]):
                line += f"; {waiting}"
        report(line)
        stop.raise_if_set()
        time.sleep(poll_seconds)


def cancel_jobs(jobs: list, executor_name: str, what: str = "training job") -> str:
    """Cancel every job still running and wait (bounded) for them to end; says how that went.
    Local: submitit's cancel, a SIGINT to the job's controller, which stops its process (SIGKILL
    after a second). Slurm: one scancel for all of them (its complaints about finished jobs muted)."""
    with signals_held():  # a second Ctrl-C must not cut the cancelling short
        running = [job for job in jobs if not job.done()]
        if not running:
            return f"no {what} was still running"
        if executor_name == "slurm":
            with suppress(OSError):
                subprocess.run(["scancel", *[job.job_id for job in running]], capture_output=True, check=False)
        else:
            for job in running:
                job.cancel(check=False)
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        while (left := [job for job in running if not job.done(force_check=True)]) and time.monotonic() < deadline:
            time.sleep(CANCEL_POLL_SECONDS)
    cancelled = f"cancelled {len(running)} {what}{'s' * (len(running) > 1)} ({executor_name})"
    if left:
        ids = ", ".join(job.job_id for job in left[:5])
        return f"{cancelled}; {len(left)} still running after {CANCEL_WAIT_SECONDS:.0f} s: {ids}"
    return f"{cancelled}, all ended"


def _collect(cache: Any, jobs: list, batches: list) -> None:
    """Every job's outcome; one line naming the first failure, or a model still missing."""
    failed = []
    for job, batch in zip(jobs, batches, strict=True):
        try:
            job.result()
        except Exception as exc:  # the job's own error, a job that ended without a result, or an unreadable one
            failed.append(
                f"job {job.job_id} ({len(batch)} models, d={batch[0].d_hidden}): {_failure(job, exc)} "
                f"(log {job.paths.stderr})"
            )
    if failed:
        raise UserError(
            f"{len(failed)} of {len(jobs)} training jobs failed; the others' models are kept in the cache, "
            f"so a re-run trains only what is missing. First: {failed[0]}"
        )
    missing = [recipe for batch in batches for recipe in batch if not cache.has(recipe)]
    if missing:
        raise UserError(
            f"the training jobs ended, but {len(missing)} models are not in the cache {cache.root}, "
            f"e.g. {cache.path(missing[0]).name}; was the cache changed meanwhile? A re-run trains them"
        )


def _failure(job: Any, exc: BaseException) -> str:
    """Why a job gave no result: its own error line, how it ended, or why its result file is unreadable."""
    from submitit.core.utils import UncompletedJobError

    if not isinstance(exc, UncompletedJobError):
        return f"its result {job.paths.result_pickle} could not be read ({type(exc).__name__}: {_first_line(exc)})"
    if job.paths.result_pickle.exists():  # the job raised: submitit passes its traceback on
        return _job_error(str(exc))
    last_error = _job_error(str(exc), fallback=False)
    ended = f"it ended without a result (state {job.state})"
    return f"{ended}; its log's last error: {last_error}" if last_error else ended


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")[:200]


def _job_error(text: str, fallback: bool = True) -> str:
    """The job's own error line (e.g. "UserError: ..."), not submitit's traceback around it."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Interrupted)\b.*:", line)]
    if errors or not fallback:
        return errors[-1][:200] if errors else ""
    return (lines[-1] if lines else "no message")[:200]


@contextmanager
def stderr_into(path: Path) -> Iterator[None]:
    """File descriptor 2 (what a child process inherits) goes to `path` inside."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def signals_held() -> Iterator[list[int]]:
    """Inside, SIGINT and SIGTERM are only noted (in the list yielded); the handlers before are back after."""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted  # handlers can only be changed in the main thread, which then has the signals
        return
    previous = {sig: signal.signal(sig, lambda signum, _frame: noted.append(signum)) for sig in HELD_SIGNALS}
    try:
        yield noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _train_job(cache: Any, recipes: list[Any], device: str) -> list[str]:
    """Inside a job: train the group (skipping what another job already stored) into the cache."""
    # scancel (or a time limit) sends SIGTERM, which submitit's own handler ignores: end now, writing nothing
    signal.signal(signal.SIGTERM, _end_job)
    cache.train_group(recipes, resolve_device(device))
    return [cache.path(r).name for r in recipes]


def _end_job(signum: int, _frame: Any) -> None:
    raise Interrupted(
        f"training job stopped by {signal.Signals(signum).name} (cancelled, or at its time limit)", "SIGTERM"
    )
