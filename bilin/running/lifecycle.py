"""One run lifecycle for every command: run.json goes running -> complete | failed | interrupted.

`execute` opens the run folder, writes the provenance, runs the command with a `RunContext`,
writes the tables and figures the command staged, and records how it ended. A user error or a
fault ends `failed` with its one-line error (exit 2); SIGINT or SIGTERM end `interrupted` with a
one-line message (exit 130 / 143). A command that can stop cleanly between steps (training) asks
for signals as a flag with `ctx.polling()`; everywhere else a signal stops the command at once.
With logger= set, the run is mirrored into its trackers (bilin.trackers): opened before the work,
each cached model logged as the cache provides it, the run's files and status given at its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from filelock import FileLock, Timeout
from rich.console import Console

from bilin.device import resolve_device, resolve_precision
from bilin.errors import Interrupted, UserError, exit_with
from bilin.running import startup_gc
from bilin.running.command import Command, CommandResult, Tables
from bilin.running.folder import Figure, RunDir, static_formats
from bilin.running.liveness import RUN_LOCK
from bilin.running.provenance import provenance, utc_now
from bilin.running.run_signals import interruption, signals_stop
from bilin.running.static_images import warm_browser
from bilin.running.timing import OTHER, run_clock
from bilin.settings.options import source_run_status
from bilin.trackers.session import Trackers
from bilin.train.records import StopRequest

if TYPE_CHECKING:
    from bilin.cache.store import ModelCache
    from bilin.models.checkpoint import Checkpoint
    from bilin.train.recipe import Recipe

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
CONTINUABLE = ("interrupted", "running", "failed")
STALE_ON_CONTINUE = ("error", "resume", "finished")


class RunContext:
    """What a running command gets: its folder, device, console, stop flag and run record."""

    def __init__(self, command: Command, cfg: Any, run_dir: Path, continuing: bool):
        self.command, self.cfg, self.continuing = command, cfg, continuing
        self.clock = run_clock("setup")
        self.phase = self.clock.phase  # `with ctx.phase("data"): ...`: where the run's wall time goes
        self.folder = RunDir(run_dir)
        self.device = resolve_device(cfg.device)
        self.console = Console(stderr=True, quiet=cfg.quiet)
        self.stop = StopRequest()
        self.summary: str | None = None  # the closing line; default "<command> complete: <folder>"
        previous = self.folder.read_json("run.json") if continuing else {}
        for name in STALE_ON_CONTINUE:
            previous.pop(name, None)
        self.record: dict[str, Any] = {**previous, **({"resumed": utc_now()} if continuing else {"started": utc_now()})}
        self.record.update(status="running", **provenance(self.device))
        requested = getattr(cfg, "precision", None)
        if requested is not None:  # what was asked for and what ran: auto is resolved once, a resume keeps it
            if requested == "auto":
                cfg.precision = previous.get("precision") or resolve_precision("auto", self.device)
            self.record.update(precision_requested=requested, precision=cfg.precision)
        source = getattr(cfg, "run", None)
        if isinstance(source, str):  # what the model came from, and whether it was complete
            self.record["source_run"] = {"path": source, "status": source_run_status(source)}
        self.folder.write_json("run.json", self.record)
        self._figures: dict[str, Figure] = {}
        self._polling = False
        self.trackers = Trackers.of(cfg, command.name, self.folder.path, previous.get("trackers", {}))

    def start_trackers(self) -> None:
        """Open the runs of the trackers logger= names (none: nothing happens), before any work."""
        if self.trackers.trackers:
            self.record["trackers"] = self.trackers.start(self.cfg, self.continuing)
            self.folder.write_json("run.json", self.record)  # a resume finds the tracker's run again

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """A step's numbers as they come (training's epochs), to the trackers the run logs to."""
        self.trackers.log_metrics(step, metrics)

    def write(self, *results: Tables) -> None:
        """Each result's CSV tables, now: for work that shows its progress as it goes (training's
        metrics.csv); a command's final outputs go in the CommandResult it returns."""
        for result in results:
            for name, rows in result.tables().items():
                self.folder.write_csv(name, rows)

    def note(self, **fields: Any) -> None:
        """run.json fields known before the work is done (the data a run reads, the recipe it trains):
        recorded whatever the ending, a failure included."""
        self.record.update(fields)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """A state the run resumes from, written now rather than when the command ends: training's
        checkpoint.pt and the weights it holds (model.safetensors, model.json)."""
        checkpoint.write(self.folder)

    def end_early(self, result: CommandResult, error: Interrupted | UserError) -> NoReturn:
        """End the command with `error` (a stop, a diverged loss) after writing what it has so far, as a
        result it returns is written: an interrupted training's curves, record and resume hint."""
        self._write_result(result)
        raise error

    def _write_result(self, result: CommandResult) -> None:
        """The command's outputs into its folder: tensors, tables and texts, then figures (one kaleido
        session for all), its run.json fields and headline."""
        with self.phase("writes"):
            self._write_files(result)

    def _write_files(self, result: CommandResult) -> None:
        for name, file in result.tensors.items():
            self.folder.save_tensors(name, dict(file.tensors), metadata=dict(file.metadata) or None)
        for name, record in result.checked_json.items():
            self.folder.write_checked_json(name, record)
        for name, rows in result.tables.items():
            self.folder.write_csv(name, rows)
        for name, text in result.texts.items():
            self.folder.write_text(name, text)
        for name, value in result.record.items():  # a dict adds to what the run recorded as it went (the cache's data)
            earlier = self.record.get(name)
            self.record[name] = {**value, **earlier} if isinstance(value, dict) and isinstance(earlier, dict) else value
        if result.headline:
            self.headline(**result.headline)
        if result.summary is not None:
            self.summary = result.summary
        self.add_figures(result.figures)

    def cached_models(self, cache: ModelCache, recipes: list[Recipe]) -> dict[Recipe, Path]:
        """The recipes' folders in the model cache, the missing ones trained by this command's executor;
        the run record says which models were used and where each came from."""
        from bilin.cache.store import Executor, record_supply

        executor = getattr(self.cfg, "executor", None)
        provided = cache.provide(
            recipes, Executor(self.device, executor, self.cfg.device, self.stop, self.console, self.command.name)
        )
        self.record.setdefault("data", {}).update(provided.data)
        used = [provided.folders[r] for r in dict.fromkeys(recipes)]
        record_supply(self.record, used, provided.supply)
        self.trackers.log_models(used, self.record["model_sources"])
        return provided.folders

    def stage(self, text: str) -> None:
        """What a long command is doing now, one line: in the run's log and on stderr (unwrapped, so a
        redirected stderr keeps one line each; nothing when quiet)."""
        logging.getLogger(f"bilin.{self.command.name}").info(text)
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def headline(self, **metrics: float) -> None:
        """The run's few key numbers, kept in run.json (`headline`): the report's table shows them."""
        self.record.setdefault("headline", {}).update({k: float(v) for k, v in metrics.items()})

    def add_figures(self, figures: Mapping[str, Figure]) -> None:
        """Figures (or their builders) to write when the command ends, in one browser session."""
        self._figures.update(figures)

    @contextmanager
    def polling(self) -> Iterator[StopRequest]:
        """Inside, the first SIGINT/SIGTERM only sets `ctx.stop.reason`; the work stops at its next check."""
        self._polling = True
        try:
            yield self.stop
        finally:
            self._polling = False

    def _write_figures(self) -> None:
        if not self._figures:
            return
        figures, self._figures = self._figures, {}
        with self.phase("figures"):
            note = self.folder.write_figures(figures)
        if note:
            self.record["figures_note"] = note
            print(note)

    def ending(self, status: str, **fields: Any) -> None:
        """Record how the run ends in run.json now, before slower writes (figures): a process killed
        meanwhile (a cancelled submitit job gets one second) is never left "running"."""
        self.record.update(fields, status=status, finished=utc_now())
        self.folder.write_json("run.json", self.record)

    def _end(self, status: str, started: float, **fields: Any) -> None:
        self.record["wall_seconds"] = self.record.get("wall_seconds", 0.0) + time.perf_counter() - started
        self.record["timing"] = self.clock.breakdown()  # this part's, on a resume
        self.ending(status, **fields)
        if self.trackers.trackers:  # after run.json: it is one of the files they get
            self.trackers.finish(status, self.folder.path, self.record)
            if self.trackers.errors:
                self.record["tracker_errors"] = dict(self.trackers.errors)
                self.folder.write_json("run.json", self.record)


def continuable(folder: Path, verb: str) -> None:
    """Refuse to continue a run that is complete, or whose run.json says nothing we can continue."""
    record = folder / "run.json"
    status = RunDir(folder).read_json("run.json").get("status") if record.is_file() else None
    if status == "complete":
        raise UserError(f"{folder} is already complete; nothing to {verb}")
    if status not in CONTINUABLE:
        raise UserError(f"{folder} cannot be continued: run.json status is {status!r}")


def execute(command: Command, cfg: Any, run_dir: Path, continuing: bool = False) -> None:
    """Run `command` into `run_dir` (a new folder, or an existing one it continues)."""
    started = time.perf_counter()
    lock = FileLock(run_dir / RUN_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        exit_with(UserError(f"another bilin process is writing {run_dir}; wait for it to end (one writer per run)"))
    except OSError as exc:
        exit_with(UserError(f"cannot lock {run_dir}: {exc.strerror or exc}"))
    try:
        _execute(command, cfg, run_dir, continuing, started)
    finally:
        lock.release()


def _execute(command: Command, cfg: Any, run_dir: Path, continuing: bool, started: float) -> None:
    try:
        ctx = RunContext(command, cfg, run_dir, continuing)
    except UserError as exc:
        exit_with(exc)
    except OSError as exc:
        exit_with(UserError(_os_error(exc)))
    try:
        try:
            with signals_stop(ctx.stop, lambda: ctx._polling, f"{ctx.command.name} did not finish: {ctx.folder.path}"):
                formats = static_formats()
                if command.draws_figures and formats:
                    warm_browser(formats)  # Chromium starts while the command works (static_images)
                ctx.start_trackers()
                ctx.clock.switch(OTHER)  # the command's own time, where it names no phase
                startup_gc.resume()  # the collector, paused by the bilin script while it started
                result = command.main(cfg, ctx)
                if result is not None:
                    ctx._write_result(result)
                ctx._write_figures()
        except Exception as exc:  # a signal's raise wrapped by the code it landed in (an import, a hook)
            interrupted = interruption(exc)
            if interrupted is None:
                raise
            raise interrupted from exc
    except Interrupted as exc:
        _write_figures_after(ctx, "interrupted", error=str(exc))
        ctx._end("interrupted", started, error=str(exc))
        exit_with(exc, EXIT_CODES.get(exc.signal_name, 130))
    except UserError as exc:
        _write_figures_after(ctx, "failed", error=str(exc))
        ctx._end("failed", started, error=str(exc))
        exit_with(exc)
    except OSError as exc:  # a full disk, a vanished folder, a name too long: the environment, not bilin
        message = _os_error(exc)
        with suppress(OSError):  # on a full disk even run.json may not be writable
            ctx._end("failed", started, error=message)
        exit_with(UserError(message))
    except BaseException as exc:  # a fault in bilin: keep its traceback, but leave no run "running"
        ctx._end("failed", started, error=f"{type(exc).__name__}: {exc}")
        raise
    ctx._end("complete", started)
    print(ctx.summary or f"{command.name} complete: {ctx.folder.path}")
    if ctx.trackers.failure():  # the work is done and kept; what the trackers missed is said in one line
        exit_with(UserError(ctx.trackers.failure()))


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"cannot write or read a file: {exc.strerror or exc}{where}"


def _write_figures_after(ctx: RunContext, status: str, **fields: Any) -> None:
    """Figures staged before a failure or interruption (e.g. the training curves so far), once
    run.json says how the run ended."""
    with suppress(Exception):  # the ending is what matters now; the figures' JSON may already be there
        ctx.ending(status, **fields)
        ctx._write_figures()
