"""The package's layers, lowest first: a module may import its own layer or lower ones, never a higher one.

The one declaration of the architecture (tests/test_architecture.py checks the import graph against it).
An entry names a module or a package; a module belongs to the most specific entry naming it or a package
above it, so a new module in an existing package needs no edit here, only a new top-level module or
package does (or a module that sits in another layer than its package: settings.options,
running.lifecycle, cli.hydra_*).
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        ("bilin.errors", "bilin.layers", "bilin.device", "bilin.settings", "bilin.running", "bilin.trackers"),
    ),
    ("data", ("bilin.data",)),
    ("model", ("bilin.models",)),
    ("train", ("bilin.train",)),
    ("settings", ("bilin.settings.options",)),  # the commands' shared option blocks, built on training's record
    ("cache", ("bilin.cache",)),
    ("analysis", ("bilin.analysis", "bilin.featvis", "bilin.csf")),
    ("figures", ("bilin.figures",)),
    ("report", ("bilin.report",)),
    ("lifecycle", ("bilin.running.lifecycle",)),
    ("commands", ("bilin.commands",)),
    ("adapter", ("bilin.cli.hydra_app", "bilin.cli.hydra_paths", "bilin.cli.hydra_launch")),
    ("cli", ("bilin.cli", "bilin.__main__", "bilin")),  # "bilin": the package's own __init__, not its children
)


def layer_of(module: str) -> int:
    """The index in LAYERS of a module's layer: that of the most specific entry naming it or a package above it."""
    best: tuple[int, int] | None = None  # (length of the entry, layer index)
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            names_it = module == name or (name != "bilin" and module.startswith(name + "."))
            if names_it and (best is None or len(name) > best[0]):
                best = (len(name), index)
    if best is None:
        raise LookupError(f"{module} is in no layer; add it (or its package) to LAYERS in bilin/layers.py")
    return best[1]
