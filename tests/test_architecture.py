"""The package's shape: data flows one way, every command is one module with one record.

The import graph is read from the source (imports inside functions included, and the command
registry's dynamic imports), so a cycle or an upward import cannot hide in a function body.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bilin.command import Command
from bilin.tasks import commands

PACKAGE = Path(__file__).resolve().parent.parent / "bilin"

# Lowest first. A module may import its own layer or lower ones, never a higher one.
LAYERS = [
    (
        "foundation",
        {
            "bilin.errors",
            "bilin.schema",
            "bilin.command",
            "bilin.config",
            "bilin.device",
            "bilin.provenance",
            "bilin.rundir",
            "bilin.liveness",
            "bilin.static_images",
            "bilin.figure_page",
        },
    ),
    ("data", {"bilin.data"}),
    ("model", {"bilin.models", "bilin.checkpoint"}),
    ("train", {"bilin.train"}),
    ("cache", {"bilin.cache", "bilin.cache_entries", "bilin.cache_jobs"}),
    ("analysis", {"bilin.analysis", "bilin.featvis", "bilin.csf"}),
    ("figures", {"bilin.figures"}),
    ("report", {"bilin.report"}),
    ("lifecycle", {"bilin.lifecycle"}),
    ("commands", {"bilin.tasks"}),
    ("adapter", {"bilin.hydra_app", "bilin.hydra_paths", "bilin.hydra_launch"}),
    ("cli", {"bilin.cli", "bilin.__main__", "bilin"}),
]
DYNAMIC_IMPORTERS = {"bilin.tasks": "bilin.tasks."}  # the registry imports the command modules beside it


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    for i, (_, names) in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names if n != "bilin") or module in names:
            return i
    raise AssertionError(f"{module} is in no layer; add it to LAYERS")


def resolve(name: str) -> str | None:
    """The bilin module an import refers to (a submodule when it names one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            prefix = DYNAMIC_IMPORTERS.get(module)
            assert prefix is not None, f"{module} imports dynamically; only the command registry may"
            found |= {m for m in MODULES if m.startswith(prefix)}
    return {r for r in map(resolve, (n for n in found if n.startswith("bilin"))) if r and r != module}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_no_module_imports_one_above_it():
    upward = [(a, b) for a, targets in GRAPH.items() for b in targets if layer_of(b) > layer_of(a)]
    assert not upward, "upward imports: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_the_import_graph_has_no_cycle():
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt) :] + [node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])


def test_the_checks_find_what_they_look_for():
    """The graph really holds imports made inside functions and the registry's dynamic ones."""
    assert "bilin.lifecycle" in GRAPH["bilin.hydra_app"]  # imported inside the Hydra main
    assert "bilin.tasks.train" in GRAPH["bilin.tasks"]  # found by the registry
    assert layer_of("bilin.figures.grid") > layer_of("bilin.analysis.stats")


def test_every_command_is_one_module_with_one_record():
    records = commands()
    names = [c.name for c in records]
    assert len(set(names)) == len(names)
    assert set(names) == {
        "train",
        "decompose",
        "truncate",
        "similarity",
        "noise-sweep",
        "accuracy",
        "featvis",
        "probe-csf",
        "export-figures",
        "cache",
        "report",
        "featvis-bench",
        "frequency",
    }
    for record in records:
        assert isinstance(record, Command) and record.summary
        module = sys.modules[record.run.__module__]
        assert module.__name__.startswith("bilin.tasks.") and module.COMMAND is record


@pytest.mark.parametrize("module", ["bilin.cli", "bilin.hydra_app"])
def test_listing_commands_and_checking_options_import_no_torch(module):
    """`bilin --help` and option checks stay fast: nothing on their path imports torch."""
    code = f"import sys, {module}; from bilin.tasks import commands; commands(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_version_flag_prints_the_installed_version():
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-m", "bilin", "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"bilin {version('bilin')}"
