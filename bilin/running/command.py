"""The record each command module exports as `COMMAND`, and the `CommandResult` its `main` returns.

A configured command (schema given) runs as `main(cfg, ctx) -> CommandResult`, with cfg an instance
of its schema and ctx the run's `bilin.running.lifecycle.RunContext`; the lifecycle writes the result into
the run folder. The Hydra adapter composes, checks and sweeps it, and `--help` is generated from the
schema. A plain command (no schema) is a Typer function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class Tables(Protocol):
    """An analysis result that knows its CSV files: {file name: rows}."""

    def tables(self) -> Mapping[str, list[dict[str, Any]]]: ...


@dataclass
class TensorFile:
    """A safetensors file of a run: its tensors (name -> tensor) and string metadata."""

    tensors: Mapping[str, Any]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass
class CommandResult:
    """Everything a command computed, for the lifecycle to write: CSV tables, safetensors files, other
    text files, JSON files whose SHA-256 goes in checksums.json (a model's model.json), figures (plotly),
    the headline numbers and the fields it adds to run.json."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # file name -> rows
    tensors: dict[str, TensorFile] = field(default_factory=dict)  # file name -> tensors
    texts: dict[str, str] = field(default_factory=dict)  # file name -> text (a Markdown table)
    checked_json: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> JSON a reader trusts (model.json)
    figures: dict[str, Any] = field(default_factory=dict)  # name -> plotly Figure, or its builder (folder.Figure)
    headline: dict[str, float] = field(default_factory=dict)  # the few numbers the report's table shows
    record: dict[str, Any] = field(default_factory=dict)  # added to run.json; a dict merges, earlier entries kept
    summary: str | None = None  # the closing line; default "<command> complete: <folder>"

    def add_tables(self, *results: Tables) -> CommandResult:
        """Each analysis result's own tables, in order."""
        for result in results:
            self.tables.update(result.tables())
        return self


@dataclass(frozen=True)
class Command:
    name: str  # as typed: bilin <name>
    summary: str  # one line for `bilin --help`
    main: Callable[..., Any]  # main(cfg, ctx) -> CommandResult; a plain command's Typer function
    schema: type | None = None
    examples: tuple[str, ...] = ()
    notes: str = ""  # a closing paragraph of its --help
    panel: str = "Commands"  # the --help section it is listed in
    continues_run: str | None = None  # a key naming a run folder this command finishes in place (train: resume)
    continue_keys: tuple[str, ...] = ()  # the keys that may be given with it
    removed_keys: tuple[tuple[str, str], ...] = ()  # (key, what to give instead): refused with that hint
    draws_figures: bool = True  # its run opens the figure browser (PNG/SVG) ahead, while it works

    @property
    def config_name(self) -> str:
        return self.name.replace("-", "_")
