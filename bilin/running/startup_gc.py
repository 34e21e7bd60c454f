"""The cyclic garbage collector, paused while the bilin script starts a command.

Starting a command imports Typer, Hydra, torch and bilin's modules: several hundred thousand
long-lived objects and almost no garbage cycles. With the collector on, each full collection
rescans all of them while they accumulate: about 0.25 s of torch's import alone, and as much again
for torch._dynamo (torch.optim's first use), measured on a 2-core Xeon. So the script pauses the
collector first thing (`pause`), and the lifecycle ends the pause just before the command's own
work (`resume`): what exists then is frozen into the permanent generation, which later
collections skip, and the collector runs as usual from there, so a long command's cycles are
collected. Only the first command of a process is started this way (a sequential sweep's later
runs import nothing new). In-process callers (the tests, a notebook) never pause it.

The cost: whatever garbage cycles the start left (a few thousand objects: the imports' and the first
run's configuration) stay in memory until the process ends.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop the cyclic collector until `resume` (nothing when it is already off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """End a `pause`: freeze what exists and run the collector again. Nothing without a pause."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
