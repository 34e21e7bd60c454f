"""The docs' command pages are generated from the schemas (docs_hooks.py): a page lists every key its
command's --help lists, so a new or renamed key cannot be missing from the docs. Needs no mkdocs."""

from __future__ import annotations

import importlib.util

import pytest

from bilin.commands import commands
from bilin.settings.schema import describe
from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "docs_hooks.py")
docs_hooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docs_hooks)
COMMANDS = {c.name: c for c in commands()}


@pytest.mark.parametrize("name", ["train", "decompose"])
def test_a_command_page_lists_every_key_of_its_schema_with_default_and_help(name):
    command = COMMANDS[name]
    page = docs_hooks.command_page(command)
    for item in describe(command.schema):
        row = next((line for line in page.splitlines() if line.startswith(f"| `{item.name}` |")), None)
        assert row is not None, f"{item.name} is missing from the {name} page"
        assert f"`{item.default}`" in row and item.help.split("|")[0].strip() in row.replace("\\|", "|")
    assert "experiment" in page and command.examples[0] in page


def test_a_plain_command_page_lists_its_options():
    page = docs_hooks.command_page(COMMANDS["cache"])
    assert "`--root`" in page and "`--remove`" in page


def test_every_command_has_a_page_in_the_index_and_a_note_of_what_it_writes():
    index = docs_hooks.index_page(list(COMMANDS.values()))
    for name in COMMANDS:
        assert f"({name}.md)" in index
        assert name in docs_hooks.WRITES, f"say what {name} writes in docs_hooks.WRITES"


def test_the_architecture_page_gets_its_layers_from_bilin_layers():
    from bilin.layers import LAYERS

    page = docs_hooks.on_page_markdown("before\n\n{{ layers }}\n\nafter", None, None, None)
    assert "{{ layers }}" not in page and page.startswith("before") and page.endswith("after")
    for name, modules in LAYERS:
        row = next(line for line in page.splitlines() if line.startswith(f"| {name} |"))
        assert all(f"`{m}`" in row for m in modules)
    assert "{{ layers }}" in (REPO / "docs" / "architecture.md").read_text()


def test_the_architecture_page_maps_every_module_with_its_layer_and_docstring():
    import pkgutil

    import bilin

    page = docs_hooks.on_page_markdown("{{ layout }}", None, None, None)
    modules = [m.name for m in pkgutil.walk_packages(bilin.__path__, "bilin.") if m.name.count(".") <= 2]
    for name in modules:
        shown = name.replace(".", "/")
        row = next((line for line in page.splitlines() if f"`{shown}.py`" in line or f"`{shown}/`" in line), None)
        assert row is not None, f"{name} is missing from the layout table"
        assert not row.endswith("|  |"), f"{name} has no docstring to describe it"
    assert "{{ layout }}" in (REPO / "docs" / "architecture.md").read_text()
