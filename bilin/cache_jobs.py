"""Training the models a grid lacks as submitit jobs: local processes (`executor=local`) or a
SLURM array (`executor=slurm`). Each job trains one group of models into the shared cache under
the entries' locks; the command waits, showing the jobs' progress, and analyses when all are in."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bilin.device import resolve_device
from bilin.errors import UserError
from bilin.train.records import StopRequest


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

    folder = Path(executor.folder) / "%j"
    if executor.name == "local":
        submitter = submitit.LocalExecutor(folder=folder)
        submitter.update_parameters(timeout_min=executor.timeout_min, cpus_per_task=executor.cpus_per_task)
    else:
        submitter = submitit.AutoExecutor(folder=folder, cluster="slurm")
        submitter.update_parameters(
            slurm_partition=executor.partition,
            gpus_per_node=executor.gpus_per_node,
            cpus_per_task=executor.cpus_per_task,
            mem_gb=executor.mem_gb,
            timeout_min=executor.timeout_min,
            slurm_array_parallelism=executor.array_parallelism,
        )
    submitter.update_parameters(name="bilin-train")
    # each job reads the data from the folder found here (its working folder may differ)
    lights = [type(cache)(cache.root, cache.dataset(batch[0]).root, cache.download) for batch in batches]
    jobs = submitter.map_array(_train_job, lights, batches, [device] * len(batches))
    report(f"{len(jobs)} training jobs submitted ({executor.name}); logs in {executor.folder}")
    while (done := sum(job.done() for job in jobs)) < len(jobs):
        report(f"training jobs: {done}/{len(jobs)} done")
        if stop.reason:
            for job in jobs:
                job.cancel(check=False)
            stop.raise_if_set()
        time.sleep(poll_seconds)
    failed = []
    for job, batch in zip(jobs, batches, strict=True):
        try:
            job.result()
        except Exception as exc:  # submitit re-raises the job's own exception, or a failed-job error
            reason = _job_error(exc)
            failed.append(
                f"job {job.job_id} ({len(batch)} models, d={batch[0].d_hidden}): {reason} (log {job.paths.stderr})"
            )
    if failed:
        raise UserError(
            f"{len(failed)} of {len(jobs)} training jobs failed; the others' models are kept in the cache, "
            f"so a re-run trains only what is missing. First: {failed[0]}"
        )


def _train_job(cache: Any, recipes: list[Any], device: str) -> list[str]:
    """Inside a job: train the group (skipping what another job already stored) into the cache."""
    cache.train_group(recipes, resolve_device(device))
    return [cache.path(r).name for r in recipes]


def _job_error(exc: BaseException) -> str:
    """The job's own error line (e.g. "UserError: ..."), not submitit's traceback around it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Interrupted)\b.*:", line)]
    return (errors[-1] if errors else lines[-1] if lines else type(exc).__name__)[:200]
