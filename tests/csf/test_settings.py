"""The csf library's settings records are where the probe's and the staircase's defaults are written:
the two commands' schemas take them by inheritance (or, for frequency's renamed probe_* keys, from the
record's fields), and no other class or function in the csf code restates one of them."""

import ast
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

import bilin
from bilin.commands.frequency import FrequencyConfig
from bilin.commands.probe_csf import CsfConfig
from bilin.csf.settings import (
    FrequencyStudySettings,
    ProbeSettings,
    StaircaseKeys,
    StaircaseSettings,
    field_as,
    record_of,
)
from bilin.settings.schema import info

RECORDS = (ProbeSettings, StaircaseSettings, FrequencyStudySettings)
PACKAGE = Path(bilin.__file__).parent
# the csf code and the two commands built on it; elsewhere a `seed=0` or `epochs=10` is another setting
SOURCES = [
    *sorted((PACKAGE / "csf").glob("*.py")),
    PACKAGE / "commands" / "probe_csf.py",
    PACKAGE / "commands" / "frequency.py",
]
OWNER = PACKAGE / "csf" / "settings.py"
NOT_SCANNED = {"seed"}  # library functions default their own seed (0) when called on their own


def _default(f):
    return f.default if f.default is not MISSING else f.default_factory()


@pytest.mark.parametrize(
    ("schema", "records"),
    [(CsfConfig, (ProbeSettings, StaircaseSettings)), (FrequencyConfig, (FrequencyStudySettings,))],
    ids=["probe-csf", "frequency"],
)
def test_a_command_inherits_the_records_fields_rather_than_redeclaring_them(schema, records):
    mine = schema.__dataclass_fields__
    for record in records:
        for name, f in record.__dataclass_fields__.items():
            assert mine[name] is f, f"{schema.__name__}.{name} redeclares {record.__name__}.{name}"


def test_frequencys_probe_keys_take_the_probe_records_default_and_range():
    probe = {f.name: f for f in fields(ProbeSettings)}
    mine = {f.name: f for f in fields(FrequencyConfig)}
    for key, name in (("probe_pairs", "pairs"), ("probe_epochs", "epochs")):
        assert mine[key].default == probe[name].default
        assert (info(mine[key]).ge, info(mine[key]).gt) == (info(probe[name]).ge, info(probe[name]).gt)
    settings = FrequencyStudySettings(probe_pairs=64, probe_epochs=2, trials=8)
    assert settings.probe == ProbeSettings(pairs=64, epochs=2, standardise=True)
    assert settings.staircase == StaircaseSettings(trials=8)  # the procedure keys frequency lacks: defaults


def test_a_record_is_read_from_a_config_that_holds_its_fields():
    cfg = CsfConfig(pairs=160, epochs=2, lr=0.5, seed=7)
    assert record_of(ProbeSettings, cfg, standardise=True) == ProbeSettings(160, 2, 32, 0.5, True, 7)
    assert record_of(StaircaseSettings, StaircaseKeys(max_steps=3)) == StaircaseSettings(max_steps=3)
    with pytest.raises(TypeError, match="no plain default"):
        field_as(FrequencyStudySettings, "sfs", "a list's default is a factory")


def _literal_defaults(tree: ast.AST):
    """(name, line, value) of every class field and function parameter whose default is a literal
    (also the first argument of a key(...) call)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            value = node.value.args[0] if isinstance(node.value, ast.Call) and node.value.args else node.value
            yield node.target.id, node.lineno, value
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args.posonlyargs + node.args.args
            given = zip(args[len(args) - len(node.args.defaults) :], node.args.defaults, strict=True)
            for arg, value in [*given, *zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)]:
                if value is not None:
                    yield arg.arg, node.lineno, value


def test_no_probe_or_staircase_default_is_written_twice():
    defaults = {f.name: _default(f) for record in RECORDS for f in fields(record) if f.name not in NOT_SCANNED}
    twice = [
        f"{path.relative_to(PACKAGE.parent)}:{line} {name}={value.value!r}"
        for path in SOURCES
        if path != OWNER
        for name, line, value in _literal_defaults(ast.parse(path.read_text()))
        if name in defaults
        and isinstance(value, ast.Constant)
        and type(value.value) is type(defaults[name])
        and value.value == defaults[name]
    ]
    assert not twice, f"defaults restated outside bilin/csf/settings.py: {twice}"


def test_the_scan_sees_a_restated_default():
    source = "class Shadow:\n    batch_size: int = 32\n\ndef f(trials: int = 26): ...\n"
    found = {(name, value.value) for name, _, value in _literal_defaults(ast.parse(source))}
    assert found == {("batch_size", 32), ("trials", 26)}
