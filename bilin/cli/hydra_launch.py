"""A Hydra multirun through submitit's launchers (hydra/launcher=submitit_local | submitit_slurm).

Hydra's launcher submits the sweep's jobs and waits for them, holding no handle a signal could
reach: stopped, the command would leave its jobs running on. So while the launcher runs, every job
submitit submits is recorded, and SIGINT/SIGTERM cancels them all, waits for them to end and says
so in one line. A refused Slurm submission ends in one line with sbatch's own words and leaves
nothing behind.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, suppress
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bilin.cli.hydra_paths import remove_unsubmitted_sweep
from bilin.errors import UserError, exit_with
from bilin.running.folder import claimed_folders

log = logging.getLogger("bilin.cli.hydra_launch")
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def submitit_kind(hydra_cfg: DictConfig) -> str | None:
    """ "local" or "slurm" when a multirun's launcher is submitit's, else None (Hydra's basic or joblib)."""
    target = str(OmegaConf.select(hydra_cfg, "launcher._target_") or "")
    if "submitit_launcher" not in target:
        return None
    if target.endswith("SlurmLauncher"):
        from bilin.cache.jobs import check_slurm_tools  # torch comes with it: only for a submitit sweep

        check_slurm_tools("hydra/launcher=submitit_slurm")
        return "slurm"
    return "local"


def launch_submitit_sweep(main: Callable[[], None], kind: str, sweeps: dict[str, bool]) -> None:
    """Run the multirun `main` whose launcher is submitit's (`kind`: local | slurm). `sweeps`: each
    sweep folder as named, and whether the user gave it (hydra.sweep.dir=) rather than bilin
    claiming a new one (what a refused submission wrote is removed from them)."""
    from bilin.cache.jobs import sbatch_refusal

    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises a launcher's error instead of printing its block
    started, claimed_before = time.time(), set(claimed_folders())
    absent = {f for n in sweeps for f in (Path(n), *Path(n).parents) if not f.exists()}
    said = io.StringIO()  # submitit copies sbatch's stderr here; a refusal is raised as well
    try:
        with _cancelled_on_signal(kind), redirect_stderr(said):
            main()
    except Exception as exc:
        if type(exc).__name__ not in ("FailedJobError", "FailedSubmissionError"):
            sys.stderr.write(said.getvalue())
            raise
        new = set(claimed_folders()) - claimed_before  # the sweep folder this process made (bilin.new_folder)
        for sweep in new | {Path(n) for n, given in sweeps.items() if given}:  # no job ran
            remove_unsubmitted_sweep(sweep, started, sweep in new)
        for folder in sorted(absent, key=lambda f: -len(f.parts)):  # the parents made for it, when left empty
            with suppress(OSError):
                folder.rmdir()
        exit_with(UserError(sbatch_refusal(exc)))
    sys.stderr.write(said.getvalue())


@contextmanager
def _cancelled_on_signal(kind: str) -> Iterator[None]:
    """Inside, the jobs submitit submits are recorded (signals held while it submits, so none is
    lost); SIGINT/SIGTERM cancels every one, waits for them to end, and ends the command in one line."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from submitit.core.core import Executor

    from bilin.cache.jobs import CONTROLLER_LOG, cancel_jobs, signals_held, stderr_into

    jobs: list[Any] = []
    submit_array, terminal = Executor.map_array, sys.stderr

    def recording(self: Any, fn: Callable, *iterable: Any) -> list:
        folder = Path(str(self.folder).split("%j")[0])
        folder.mkdir(parents=True, exist_ok=True)
        # a local job's controller inherits stderr: its traceback when cancelled goes to a log, not the terminal
        with signals_held() as held, stderr_into(folder / CONTROLLER_LOG):
            submitted = submit_array(self, fn, *iterable)
            jobs.extend(submitted)
        if kind == "slurm":  # their states from squeue where sacct has no accounting (said once, in the log)
            from bilin.cache.slurm_states import follow_states

            follow_states(submitted, log.info)
        if held:
            signal.raise_signal(held[0])  # acted on now that the jobs are known
        return submitted

    def stop(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        sys.stderr = terminal  # the launcher's stderr is being held; this line is for the user
        ended = cancel_jobs(jobs, kind, "sweep job")
        exit_with(UserError(f"stopped by {name}; the sweep did not finish; {ended}"), EXIT_CODES[signum])

    previous = {sig: signal.signal(sig, stop) for sig in EXIT_CODES}
    Executor.map_array = recording
    try:
        yield
    finally:
        Executor.map_array = submit_array
        for sig, handler in previous.items():
            signal.signal(sig, handler)
