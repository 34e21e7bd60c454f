"""The commands: one module each, exporting its `COMMAND` record; `commands()` finds them.

Adding a command is adding a module here (plus presets in bilin/configs/experiment/<name>/ if
it wants them). A module's heavy imports (torch, analysis, figures) sit inside its `main`, so that
listing the commands, `--help` and option checks stay fast.
"""

from __future__ import annotations

import importlib
import pkgutil

from bilin.running.command import Command


def commands() -> list[Command]:
    """Every COMMAND record of the modules in this package, in module order."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        record = getattr(importlib.import_module(f"{__name__}.{module.name}"), "COMMAND", None)
        if isinstance(record, Command):
            found.append(record)
    return found
