"""The package's layers, lowest first: a module may import its own layer or lower ones, never a higher one.

The one declaration of the architecture (tests/test_architecture.py checks the import graph against it).
An entry names a module or a package; a package's modules, present and future, share its layer, so a new
module in an existing package needs no edit here, only a new top-level module or package does.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "bilin.errors",
            "bilin.layers",
            "bilin.schema",
            "bilin.command",
            "bilin.device",
            "bilin.provenance",
            "bilin.rundir",
            "bilin.liveness",
            "bilin.static_images",
            "bilin.figure_page",
        ),
    ),
    ("data", ("bilin.data",)),
    ("model", ("bilin.models", "bilin.checkpoint")),
    ("train", ("bilin.train",)),
    ("settings", ("bilin.config",)),  # the commands' shared schemas, built on the libraries' settings records
    ("cache", ("bilin.cache", "bilin.cache_entries", "bilin.cache_jobs")),
    ("analysis", ("bilin.analysis", "bilin.featvis", "bilin.csf")),
    ("figures", ("bilin.figures",)),
    ("report", ("bilin.report",)),
    ("lifecycle", ("bilin.lifecycle",)),
    ("commands", ("bilin.tasks",)),
    ("adapter", ("bilin.hydra_app", "bilin.hydra_paths", "bilin.hydra_launch")),
    ("cli", ("bilin.cli", "bilin.__main__", "bilin")),  # "bilin": the package's own __init__, not its children
)


def layer_of(module: str) -> int:
    """The index in LAYERS of a module's layer: the entry naming it or a package above it."""
    for index, (_, names) in enumerate(LAYERS):
        if module in names or any(module.startswith(name + ".") for name in names if name != "bilin"):
            return index
    raise LookupError(f"{module} is in no layer; add it (or its package) to LAYERS in bilin/layers.py")
