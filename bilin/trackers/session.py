"""What a run logs to its trackers, and when: the config at the start, each epoch as it ends (train),
each model of a grid from its cache entry once the cache holds it, and at the end the final numbers,
the figures (PNG, SVG, HTML) and the CSVs.

Trackers mirror the run folder, which stays the source of truth: the numbers are logged as its CSVs
hold them, a grid's models are read from their cache entries (whoever trained them: this process, a
submitit job, another run), and a tracker that fails once the run has started is set aside, the work
going on; the run says so in one line at its end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Protocol

from bilin.errors import UserError
from bilin.trackers.records import METRICS, STEP, Model, cell, final, flat, read_rows
from bilin.trackers.settings import TENSORBOARD, TrackerSettings

ARTIFACT_SUFFIXES = (".png", ".svg", ".html", ".csv")
RECORDS = (("run.json", ""), (".hydra/config.yaml", ""))  # provenance and the config, beside the figures


class Tracker(Protocol):
    name: str

    def start(self, params: Mapping[str, Any], continuing: bool) -> dict[str, Any]: ...
    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None: ...
    def log_model(self, model: Model) -> None: ...
    def finish(
        self,
        status: str,
        params: Mapping[str, Any],
        summary: Mapping[str, float],
        step: int,
        files: list[tuple[Path, str]],
    ) -> None: ...


class Trackers:
    """The trackers one run logs to; with none (logger= not set) every call does nothing."""

    def __init__(self, trackers: list[Tracker] | None = None):
        self.trackers = trackers or []
        self.errors: dict[str, str] = {}  # tracker -> why it was set aside
        self._models: set[str] = set()
        self._params: dict[str, Any] = {}

    @classmethod
    def of(cls, cfg: Any, command: str, folder: Path, previous: Mapping[str, Any]) -> Trackers:
        """The trackers a command's config names (none unless it has the logger= keys and sets them);
        `previous`: what run.json recorded of them in an earlier part of the run (a resumed train)."""
        if not isinstance(cfg, TrackerSettings):
            return cls()
        chosen: list[Tracker] = []
        for name in cfg.trackers():
            if name == "tensorboard":
                from bilin.trackers.tensorboard_log import TensorBoardLog

                chosen.append(TensorBoardLog(folder))
            elif name == "mlflow":
                from bilin.trackers.mlflow_log import MlflowLog

                uri = cfg.tracking_uri(cfg.outputs_root)
                tags = {"bilin.command": command, "bilin.run_folder": str(folder.absolute())}
                run_name = f"{command} {folder.parent.name}/{folder.name}"
                experiment = cfg.mlflow_experiment or f"bilin-{command}"
                chosen.append(MlflowLog(uri, experiment, run_name, tags, previous.get("mlflow", {})))
        return cls(chosen)

    def start(self, cfg: Any, continuing: bool) -> dict[str, Any]:
        """Open each tracker's run with the config as its params; a failure here ends the run before any
        work, in one line. Returns what run.json records of each (where it logs, its run's id)."""
        self._params = flat(asdict(cfg) if is_dataclass(cfg) else dict(cfg))
        opened = {}
        for tracker in self.trackers:
            try:
                opened[tracker.name] = tracker.start(self._params, continuing)
            except Exception as exc:
                self.errors[tracker.name] = f"logger={tracker.name}: cannot start logging: {short(exc)}"
                raise UserError(self.errors[tracker.name]) from exc
        return opened

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """One step's numbers (an epoch's), as the run's CSV holds them."""
        values = {k: cell(v) for k, v in metrics.items()}
        self._each(f"step {step}", lambda t: t.log_metrics(step, values))

    def log_models(self, folders: list[Path], sources: Mapping[str, str]) -> None:
        """Each model (a cache entry) not logged yet: one child run each, its recipe as params, its
        per-epoch metrics and its final ones; `sources`: entry name -> trained | reused | waited_for."""
        for folder in folders:
            if not self.trackers or folder.name in self._models:
                continue
            self._models.add(folder.name)
            source = sources.get(folder.name, "")  # read by each tracker: an unreadable entry sets it aside
            self._each(f"model {folder.name}", lambda t, f=folder, s=source: t.log_model(Model.of(f, s)))

    def finish(self, status: str, folder: Path, record: Mapping[str, Any]) -> None:
        """The run's final numbers (metrics.csv's last row, the headline), its figures and CSVs, and its
        status; read inside the guard, so that nothing here can change how the run ends."""

        def end(tracker: Tracker) -> None:
            rows = read_rows(folder / METRICS) if (folder / METRICS).is_file() else []
            summary = final(rows) | {f"headline/{k}": cell(v) for k, v in record.get("headline", {}).items()}
            step = int(rows[-1][STEP]) if rows else 0
            tracker.finish(status, self._params, summary, step, run_files(folder))

        self._each("the run's end", end)

    def failure(self) -> str | None:
        """One line for the run's end when a tracker was set aside, else None."""
        if not self.errors:
            return None
        return "; ".join(self.errors.values()) + " (the run folder holds everything)"

    def _each(self, what: str, action: Any) -> None:
        for tracker in self.trackers:
            if tracker.name in self.errors:
                continue
            try:
                action(tracker)
            except Exception as exc:  # any library's fault: the tracker is set aside, the work goes on
                self.errors[tracker.name] = f"logger={tracker.name} stopped logging at {what}: {short(exc)}"


def run_files(folder: Path) -> list[tuple[Path, str]]:
    """(file, artifact folder) of a run's figures and CSVs, its run.json and its config."""
    found = []
    for path in sorted(folder.rglob("*")):
        inside = path.relative_to(folder)
        skipped = any(part.startswith(".") or part == TENSORBOARD for part in inside.parts)
        if path.suffix in ARTIFACT_SUFFIXES and path.is_file() and not skipped:
            found.append((path, "" if inside.parent == Path(".") else inside.parent.as_posix()))
    return found + [(folder / name, where) for name, where in RECORDS if (folder / name).is_file()]


def short(exc: BaseException) -> str:
    """An exception as one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
