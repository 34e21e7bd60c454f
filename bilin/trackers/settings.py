"""The `logger=` keys: which trackers a run logs to and where, checked before any work.

The checks import no tracker library (a run without logger= never loads one, and option checks stay
fast): a library is looked up, a server's port tried for a connection; the caller (the settings'
options, bilin.settings.options) tries the folder of a local store for writing.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bilin.errors import UserError
from bilin.settings.schema import format_value, key

TRACKERS = ("csv", "tensorboard", "mlflow")  # csv: the run folder's own metrics.csv, always written
LIBRARIES = {"tensorboard": ("tensorboard",), "mlflow": ("mlflow",)}
SQLITE_LIBRARIES = ("sqlalchemy", "alembic")  # what MLflow's sqlite store needs beyond mlflow-skinny
INSTALL_HINT = "pip install 'bilin[trackers]'"
DEFAULT_STORE = "mlflow.db"  # the default MLflow store, under the outputs root
ARTIFACTS = "mlartifacts"  # a sqlite store's artifacts, beside its database file
NAMED_STORES = ("databricks", "databricks-uc")  # URIs without a scheme that are not a folder
CONNECT_SECONDS = 3.0
TENSORBOARD = "tensorboard"  # the event files' folder in the run folder


@dataclass
class TrackerSettings:
    """Where a run is also logged, beside its folder."""

    logger: Any = key(
        [],
        "also log the run to tensorboard, mlflow or both (logger=mlflow, logger=[tensorboard,mlflow]); csv is "
        "the run folder's own metrics.csv, always written; every model is one tracker run (a grid's are "
        "children of the command's run)",
    )
    mlflow_uri: str | None = key(
        None,
        "MLflow tracking URI (sqlite:///path.db, http://host:5000, databricks...); null: $MLFLOW_TRACKING_URI, "
        f"else sqlite:///<outputs_root>/{DEFAULT_STORE} (artifacts beside it in {ARTIFACTS}/)",
    )
    mlflow_experiment: str | None = key(None, "MLflow experiment; null: bilin-<command>")

    def trackers(self) -> tuple[str, ...]:
        """The trackers logger= names beyond the run folder's own CSV, checked: one line on a mistake."""
        given = [] if self.logger is None else [self.logger] if isinstance(self.logger, str) else self.logger
        if not isinstance(given, (list, tuple)) or not all(isinstance(name, str) for name in given):
            raise UserError(f"logger={format_value(self.logger)}: give tracker names, one of {', '.join(TRACKERS)}")
        for name in given:
            if name not in TRACKERS:
                raise UserError(f"logger: {name!r} is not one of {', '.join(TRACKERS)}")
            if given.count(name) > 1:
                raise UserError(f"logger={format_value(list(given))} gives {name} twice; give each tracker once")
        return tuple(name for name in given if name != "csv")

    def tracking_uri(self, outputs_root: str) -> str:
        """The MLflow store: the key's, else MLflow's own environment variable, else a sqlite file in
        the outputs root (MLflow 3 refuses its old file store by default; sqlite works offline)."""
        uri = self.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI")
        return uri or "sqlite:///" + str(Path(outputs_root, DEFAULT_STORE).absolute())

    def check_trackers(self, outputs_root: str) -> str | None:
        """What can be known of the trackers before the run: the names, the libraries, and that an MLflow
        server answers. Returns the folder a local MLflow store writes in, for the caller to try."""
        chosen = self.trackers()
        given = [name for name in ("mlflow_uri", "mlflow_experiment") if getattr(self, name) is not None]
        if given and "mlflow" not in chosen:
            raise UserError(f"{given[0]}= is for logger=mlflow, which this run does not log to; add it or drop the key")
        uri = self.tracking_uri(outputs_root) if "mlflow" in chosen else ""
        for name in chosen:
            needed = LIBRARIES[name] + (SQLITE_LIBRARIES if uri.startswith("sqlite:") else ())
            missing = [library for library in needed if importlib.util.find_spec(library) is None]
            if missing:
                raise UserError(f"logger={name} needs {' and '.join(missing)}, not installed: {INSTALL_HINT}")
        check_server(uri)
        return local_store(uri) if uri else None


def local_store(uri: str) -> str | None:
    """The folder a local MLflow store writes in (a sqlite file's, a file store's), None for a server."""
    parts = urlparse(uri)
    if parts.scheme == "sqlite":
        return str(Path(uri.removeprefix("sqlite:///")).parent) if uri.startswith("sqlite:///") else None
    if parts.scheme == "file" or (parts.scheme == "" and uri not in NAMED_STORES):
        return parts.path or uri
    return None


def check_server(uri: str) -> None:
    """An MLflow server's port must accept a connection now, not after training."""
    parts = urlparse(uri)
    if parts.scheme not in ("http", "https"):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"mlflow_uri={uri}: no MLflow server answers at {parts.hostname}:{port} ({reason})") from None
