"""The record each command module exports as `COMMAND`: everything the CLI needs to offer it.

A configured command (schema given) runs as `run(cfg, ctx)`, with cfg an instance of its schema
and ctx the run's `bilin.lifecycle.RunContext`; the Hydra adapter composes, checks and sweeps it,
and `--help` is generated from the schema. A plain command (no schema) is a Typer function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    name: str  # as typed: bilin <name>
    summary: str  # one line for `bilin --help`
    run: Callable[..., Any]
    schema: type | None = None
    examples: tuple[str, ...] = ()
    notes: str = ""  # a closing paragraph of its --help
    panel: str = "Commands"  # the --help section it is listed in
    continues_run: str | None = None  # a key naming a run folder this command finishes in place (train: resume)
    continue_keys: tuple[str, ...] = ()  # the keys that may be given with it
    removed_keys: tuple[tuple[str, str], ...] = ()  # (key, what to give instead): refused with that hint

    @property
    def config_name(self) -> str:
        return self.name.replace("-", "_")
