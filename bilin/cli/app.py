"""The `bilin` command: one subcommand per `COMMAND` record found in bilin/commands/.

A configured command takes Hydra overrides (`key=value`, `-m` sweeps, launchers) and its --help is
generated from its schema; a plain command is the record's own Typer function.
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape

from bilin.commands import commands
from bilin.running import startup_gc
from bilin.running.command import Command
from bilin.settings.schema import describe, format_value

PANELS = ("Train", "Read the weights", "Any model", "Run folders")
HYDRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["--help"]}
HYDRA_FLAGS = "Hydra's own flags pass through: -m/--multirun, --cfg job|hydra|all, --resolve, --info, --hydra-help."

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Weight-based interpretability of image classifiers: train bilinear MLPs and read their weights.",
)


def help_text(command: Command) -> str:
    """Summary, examples, then one line per key: key=default, what it does, its choices."""
    from bilin.cli.hydra_app import group_options  # Hydra is imported only for configured commands

    rows = []
    for item in describe(command.schema):
        options = group_options(item.name, command) if item.group else [format_value(c) for c in item.choices or ()]
        rows.append((f"{item.name}={item.default}", item.help, " | ".join(options)))
    presets = group_options("experiment", command)
    if presets:
        rows.append(("experiment=null", f"presets: bilin/configs/experiment/{command.name}/", " | ".join(presets)))
    width = max(len(r[0]) for r in rows) + 2
    keys = "\n".join(
        f"  [bold]{escape(name)}[/bold]{' ' * (width - len(name))}{escape(meaning)}"
        + (f" [dim]({escape(choices)})[/dim]" if choices else "")
        for name, meaning, choices in rows
    )
    examples = "\n".join(f"  {escape(e)}" for e in command.examples)
    notes = f"{escape(command.notes)}\n\n" if command.notes else ""
    return (
        f"{command.summary}\n\n[bold]Examples[/bold]\n\n{examples}\n\n[bold]Keys[/bold] (key=default, "
        f"meaning, choices)\n\n{keys}\n\n{notes}{HYDRA_FLAGS}"
    )


def register(command: Command) -> None:
    if command.schema is None:
        app.command(command.name, help=command.summary, rich_help_panel=command.panel)(_collected(command.main))
        return

    def invoke_configured(ctx: typer.Context) -> None:
        from bilin.cli.hydra_app import invoke

        invoke(command, list(ctx.args))

    app.command(
        command.name,
        context_settings=HYDRA_ARGS,
        help=help_text(command),
        short_help=command.summary,
        rich_help_panel=command.panel,
    )(invoke_configured)


def _collected(function: Callable[..., Any]) -> Callable[..., Any]:
    """A plain command runs with the cyclic collector on (bilin.running.startup_gc): its work may be
    long (report --watch)."""

    @functools.wraps(function)  # Typer reads the options from the wrapped function's signature
    def run_collected(*args: Any, **kwargs: Any) -> Any:
        startup_gc.resume()
        return function(*args, **kwargs)

    return run_collected


for _command in sorted(commands(), key=lambda c: (PANELS.index(c.panel), c.name)):
    register(_command)


def _print_version(value: bool) -> None:
    if value:
        from bilin import __version__

        print(f"bilin {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="print the version and exit"
    ),
) -> None:
    """Weight-based interpretability of image classifiers."""


def run() -> None:
    """The `bilin` script: the app, then a prompt exit. Once a command has ended (its files written and
    closed, run.json final), the exit handlers run and the output is flushed; the interpreter's own
    teardown (about 0.5 s of freeing torch's modules) is skipped. A fault's traceback goes as usual."""
    try:
        app(prog_name="bilin")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or tracer (cProfile, coverage, a debugger) writes its results at the end
    atexit._run_exitfuncs()  # logging's flush, the loggers' and libraries' own handlers
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
