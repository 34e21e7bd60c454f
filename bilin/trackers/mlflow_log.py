"""MLflow: one run per command run, each model of a grid a child run of it, through MlflowClient.

The client, not the fluent API: no process-wide active run, so a command's run and its children are
named explicitly. A sqlite store keeps its artifacts beside its database file (an experiment made
without an artifact location would put them in the working folder).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from filelock import FileLock

from bilin.settings.schema import format_value
from bilin.trackers.records import STEP, Model
from bilin.trackers.settings import ARTIFACTS, local_store

STATUS = {"complete": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
FILE_STORE_REFUSED = "MLFLOW_ALLOW_FILE_STORE"  # named in MLflow 3's refusal of a file store
PARENT_TAG = "mlflow.parentRunId"  # what MLflow's UI nests child runs by
PARAM_LENGTH = 6000  # MLflow's limit on a param's value
BATCH = 100  # params (and metrics) per log_batch call, within MLflow's limits
UNNAMEABLE = re.compile(r"[^\w\-. :/]")  # what MLflow refuses in a metric's or param's name


class MlflowLog:
    name = "mlflow"

    def __init__(self, uri: str, experiment: str, run_name: str, tags: Mapping[str, str], previous: Mapping[str, Any]):
        self.uri, self.experiment, self.run_name, self.tags = uri, experiment, run_name, dict(tags)
        self.previous = previous  # what run.json recorded of an earlier part of this run (resume)
        self.run_id = ""
        self._client: Any = None

    def start(self, params: Mapping[str, Any], continuing: bool) -> dict[str, Any]:
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # the store's set-up lines ("Creating initial MLflow database tables")
            logging.getLogger(name).setLevel(logging.WARNING)  # after the import: mlflow sets its level then
        with _store_lock(self.uri):  # runs of a multirun starting together make a new store's tables once
            try:
                self._client = MlflowClient(self.uri)
            except Exception as exc:
                if FILE_STORE_REFUSED in str(exc):  # MLflow 3's message is a paragraph; the way out, in one line
                    raise RuntimeError(
                        f"{self.uri} is MLflow's file store, which this MLflow refuses; use a sqlite store "
                        "(mlflow_uri=sqlite:///<folder>/mlflow.db, or leave mlflow_uri unset) or set "
                        "MLFLOW_ALLOW_FILE_STORE=true"
                    ) from exc
                raise
            experiment_id = self._experiment_id()
        earlier = self.previous.get("run_id") if continuing and self.previous.get("tracking_uri") == self.uri else None
        if earlier:
            self.run_id = earlier
            self._client.update_run(self.run_id, status="RUNNING")
            logged = self._client.get_run(self.run_id).data.params  # a param once logged cannot change
            params = {k: v for k, v in params.items() if k not in logged}
        else:
            self.run_id = self._client.create_run(experiment_id, run_name=self.run_name, tags=self.tags).info.run_id
        self._params(self.run_id, params)
        return {"tracking_uri": self.uri, "experiment_id": experiment_id, "run_id": self.run_id}

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self._metrics(self.run_id, metrics, step)

    def log_model(self, model: Model) -> None:
        client = self._client
        experiment_id = client.get_run(self.run_id).info.experiment_id
        tags = {**self.tags, **model.tags, PARENT_TAG: self.run_id}
        child = client.create_run(experiment_id, run_name=model.name, tags=tags).info.run_id
        self._params(child, model.params)
        for row in model.rows:
            self._metrics(child, {k: v for k, v in row.items() if k != STEP}, int(row[STEP]))
        self._metrics(child, model.final(), model.last_step)
        for path, folder in model.files:
            client.log_artifact(child, str(path), folder or None)
        client.set_terminated(child, "FINISHED")

    def finish(
        self,
        status: str,
        params: Mapping[str, Any],
        summary: Mapping[str, float],
        step: int,
        files: list[tuple[Path, str]],
    ) -> None:
        self._metrics(self.run_id, summary, step)
        for path, folder in files:
            self._client.log_artifact(self.run_id, str(path), folder or None)
        self._client.set_terminated(self.run_id, STATUS.get(status, "FAILED"))

    def _experiment_id(self) -> str:
        found = self._client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        store = local_store(self.uri) if self.uri.startswith("sqlite:") else None
        location = Path(store, ARTIFACTS).absolute().as_uri() if store is not None else None
        return self._client.create_experiment(self.experiment, artifact_location=location)

    def _params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        entries = [Param(mlflow_name(k), format_value(v)[:PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(entries), BATCH):
            self._client.log_batch(run_id, params=entries[start : start + BATCH])

    def _metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entries = [Metric(mlflow_name(k), float(v), now, step) for k, v in metrics.items()]
        for start in range(0, len(entries), BATCH):
            self._client.log_batch(run_id, metrics=entries[start : start + BATCH])


def mlflow_name(name: str) -> str:
    """A metric's or param's name as MLflow takes it (a headline may name a method "a+b"): others become _."""
    return UNNAMEABLE.sub("_", name)


def _store_lock(uri: str) -> Any:
    """A file lock beside a sqlite store (none for other stores: a server serialises its own writes)."""
    store = local_store(uri) if uri.startswith("sqlite:///") else None
    if store is None:
        return nullcontext()
    Path(store).mkdir(parents=True, exist_ok=True)
    return FileLock(uri.removeprefix("sqlite:///") + ".lock")
