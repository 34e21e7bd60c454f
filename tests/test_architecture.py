"""The package's shape: data flows one way, every command is one module with one record.

The import graph is read from the source (imports inside functions included, and the command
registry's dynamic imports), so a cycle or an upward import cannot hide in a function body. Nothing
here is a copy: the layers are bilin/layers.py's, the commands the registry's and the CLI's.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bilin.commands import commands
from bilin.layers import layer_of
from bilin.running.command import Command

PACKAGE = Path(__file__).resolve().parent.parent / "bilin"
REGISTRY = commands.__module__  # the one module that imports the command modules beside it dynamically


def package_modules(package: Path) -> dict[str, Path]:
    """{dotted name: file} of every module under a package folder."""

    def name(path: Path) -> str:
        parts = path.relative_to(package.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    return {name(p): p for p in package.rglob("*.py")}


def import_graph(modules: dict[str, Path], registry: str = REGISTRY) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, imports inside functions included; the registry's
    importlib calls count as importing every module below it."""

    def resolve(name: str) -> str | None:  # the module an import names (a submodule when it names one)
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    root = min(modules, key=len)
    graph = {}
    for module, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                assert module == registry, f"{module} imports dynamically; only the command registry may"
                found |= {m for m in modules if m.startswith(registry + ".")}
        inside = (n for n in found if n == root or n.startswith(root + "."))
        graph[module] = {r for r in map(resolve, inside) if r and r != module}
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a))


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [node, nxt]  # nxt is on the stack: path + [node]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [])):
            return cycle
    return None


GRAPH = import_graph(package_modules(PACKAGE))


def test_every_module_has_a_layer():
    missing = []
    for module in GRAPH:
        try:
            layer_of(module)
        except LookupError:
            missing.append(module)
    assert not missing, "in no layer (add to bilin/layers.py): " + ", ".join(missing)


def test_no_module_imports_one_above_it():
    upward = upward_imports(GRAPH)
    assert not upward, "upward imports: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_the_import_graph_has_no_cycle():
    cycle = import_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_find_what_they_look_for():
    """The graph really holds imports made inside functions and the registry's dynamic ones."""
    assert "bilin.running.lifecycle" in GRAPH["bilin.cli.hydra_app"]  # imported inside the Hydra main
    assert "bilin.commands.train" in GRAPH["bilin.commands"]  # found by the registry
    assert layer_of("bilin.figures.grid") > layer_of("bilin.analysis.stats")


def test_the_checker_catches_an_upward_import_inside_a_function_and_a_cycle(tmp_path):
    """A fake package on disk: data imports the figures inside a function body, and two analysis
    modules import each other."""
    fake = tmp_path / "bilin"
    (fake / "data").mkdir(parents=True)
    (fake / "analysis").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "errors.py").write_text("")
    (fake / "data" / "__init__.py").write_text("def load():\n    from bilin.figures import draw\n")
    (fake / "figures.py").write_text("from bilin.errors import UserError\ndraw = None\n")
    (fake / "analysis" / "a.py").write_text("import bilin.analysis.b\n")
    (fake / "analysis" / "b.py").write_text("from bilin.analysis import a\n")
    graph = import_graph(package_modules(fake))
    assert upward_imports(graph) == [("bilin.data", "bilin.figures")]
    assert import_cycle(graph) == ["bilin.analysis.a", "bilin.analysis.b", "bilin.analysis.a"]
    del graph["bilin.analysis.b"], graph["bilin.data"]
    assert upward_imports(graph) == [] and import_cycle({"bilin.errors": set()}) is None


def test_the_checker_allows_dynamic_imports_only_in_the_registry(tmp_path):
    fake = tmp_path / "bilin"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "errors.py").write_text("import importlib\nimportlib.import_module('bilin.cli.app')\n")
    with pytest.raises(AssertionError, match="only the command registry may"):
        import_graph(package_modules(fake))


def test_a_module_outside_every_layer_is_named():
    with pytest.raises(LookupError, match="bilin.new_module is in no layer"):
        layer_of("bilin.new_module")
    assert layer_of("bilin.analysis.new_module") == layer_of("bilin.analysis")  # a package's new module


def test_every_command_is_one_module_with_one_record():
    """Each module of the registry's package exports one COMMAND, named after the module, and the
    command line offers exactly these."""
    from bilin.cli.app import app

    records = commands()
    package = REGISTRY + "."
    command_modules = sorted(m for m in GRAPH if m.startswith(package))
    assert [r.main.__module__ for r in records] == command_modules, "a module here exports no Command as COMMAND"
    for record in records:
        assert isinstance(record, Command) and record.summary
        module = sys.modules[record.main.__module__]
        assert module.COMMAND is record
        assert record.name == module.__name__.removeprefix(package).replace("_", "-")
    assert sorted(c.name for c in app.registered_commands) == sorted(r.name for r in records)


@pytest.mark.parametrize("module", ["bilin.cli.app", "bilin.cli.hydra_app"])
def test_listing_commands_and_checking_options_import_no_torch(module):
    """`bilin --help` and option checks stay fast: nothing on their path imports torch."""
    code = f"import sys, {module}; from bilin.commands import commands; commands(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_version_flag_prints_the_installed_version():
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-m", "bilin", "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"bilin {version('bilin')}"
