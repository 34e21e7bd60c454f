"""Command schemas: dataclasses whose fields carry their default, one line of help and their range.

    @dataclass
    class TruncateConfig(GridOptions):
        k_max: int = key(30, "k = 0..k_max components per class", ge=0)

A schema is the only place a command's keys and defaults are written. From it:
- Hydra gets a mirror (`hydra_node`): the same fields with `Literal` choices as their plain type,
  which OmegaConf can check (it rejects `Literal`), so `seed=abc` and unknown keys fail at
  composition;
- `load` turns the composed config into the schema's own instance, and `validate` checks the
  choices, ranges and the schema's own `check()` (keys that depend on each other);
- `describe` lists every key with its default, choices and help, for `--help`.
Nothing here imports torch: option checks stay fast.
"""

from __future__ import annotations

import copy
import functools
import math
import types
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, make_dataclass
from typing import Any, Literal, Optional, Union, get_args, get_origin, get_type_hints

from bilin.errors import UserError

_META = "bilin"
UNSET = "???"  # OmegaConf's MISSING: a value a config group fills (model.name from model=...)


@dataclass(frozen=True)
class KeyInfo:
    help: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    group: str | None = None  # the default option of the Hydra config group that fills this field


def key(default: Any, help: str, *, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    """A schema field: its default, one line of help, and the range its value must lie in."""
    info = {_META: KeyInfo(help, ge, gt, le)}
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=info)
    return field(default=default, metadata=info)


SEED_MAX = 2**32 - 1  # torch's generators take 64 bits, but seed + offset streams must stay inside them


def seed_key(default: int | list[int], help: str) -> Any:
    """A seed (or a list of seeds): a whole number in [0, 2^32 - 1]."""
    return key(default, help, ge=0, le=SEED_MAX)


def group(option: str, help: str, node: type) -> Any:
    """A field filled by a Hydra config group (`model=`, `data=`); `option` is the default choice."""
    return field(default_factory=node, metadata={_META: KeyInfo(help, group=option)})


def rekey(schema: type, name: str, default: Any = MISSING, help: str | None = None) -> Any:
    """A field `schema` declares, declared again in a schema that inherits it with another default or
    help (a grid's noise, the model cache's narrower precision); its range is kept."""
    inherited = next(f for f in fields(schema) if f.name == name)
    meta = info(inherited)
    if default is MISSING:
        default = inherited.default_factory() if inherited.default_factory is not MISSING else inherited.default
    return key(default, meta.help if help is None else help, ge=meta.ge, gt=meta.gt, le=meta.le)


def info(f: Any) -> KeyInfo:
    return f.metadata.get(_META) or KeyInfo("")


def hints(schema: type) -> dict[str, Any]:
    return get_type_hints(schema)


def group_defaults(schema: type) -> dict[str, str]:
    """{group: default option} for the fields a config group fills, in field order."""
    return {f.name: info(f).group for f in fields(schema) if info(f).group}


# -- types --------------------------------------------------------------------------------------
def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) != len(get_args(tp))
    return tp, False


def choices(tp: Any) -> tuple | None:
    """The allowed values of a Literal type (inside Optional or list), else None."""
    tp, _ = _strip_optional(tp)
    if get_origin(tp) is list:
        tp, _ = _strip_optional(get_args(tp)[0])
    return get_args(tp) if get_origin(tp) is Literal else None


def shown_choices(tp: Any) -> tuple | None:
    """The values --help lists for a key: a Literal's (of a list's items too), true and false for a
    bool, and null when the key may be null; None for an open set (numbers, paths, names)."""
    inner, optional = _strip_optional(tp)
    if get_origin(inner) is list:
        inner = _strip_optional(get_args(inner)[0])[0]
    if inner is bool:
        values: tuple = (True, False)
    elif get_origin(inner) is Literal:
        values = get_args(inner)
    else:
        return None
    return values + ((None,) if optional else ())


def _hydra_type(tp: Any) -> Any:
    inner, optional = _strip_optional(tp)
    if get_origin(inner) is Literal:
        inner = type(get_args(inner)[0])
    elif get_origin(inner) is list:
        inner = list[_hydra_type(get_args(inner)[0])]
    elif is_dataclass(inner):
        inner = hydra_node(inner)
    return Optional[inner] if optional else inner  # noqa: UP045 (OmegaConf reads typing.Optional, not X | None)


@functools.cache
def hydra_node(schema: type) -> type:
    """The schema as OmegaConf can type-check it: the same fields, Literals as their plain type."""
    types_ = hints(schema)
    specs = []
    for f in fields(schema):
        tp = _hydra_type(types_[f.name])
        if is_dataclass(tp):
            default = field(default_factory=tp)
        elif f.default_factory is not MISSING:
            default = field(default_factory=f.default_factory)
        else:
            default = field(default=f.default)
        specs.append((f.name, tp, default))
    return make_dataclass(schema.__name__, specs)


# -- composed config -> schema instance ---------------------------------------------------------
def load(schema: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """An instance of `schema` from a plain mapping (the resolved Hydra config); unknown keys
    (e.g. added with `+key=`) are refused instead of being silently ignored."""
    types_ = hints(schema)
    names = {f.name for f in fields(schema)}
    unknown = [k for k in values if k not in names]
    if unknown:
        raise UserError(f"unknown key {prefix}{unknown[0]!r}; this command's keys are: {', '.join(sorted(names))}")
    kwargs = {}
    for f in fields(schema):
        if f.name in values:
            value = values[f.name]
        else:  # a config written before this key existed
            value = f.default_factory() if f.default_factory is not MISSING else f.default
        tp, _ = _strip_optional(types_[f.name])
        if is_dataclass(tp) and isinstance(value, Mapping):
            value = load(tp, value, f"{prefix}{f.name}.")
        kwargs[f.name] = value
    return schema(**kwargs)


def validate(config: Any, prefix: str = "") -> None:
    """Check every value's choices and range, then the schema's own `check()`; UserError on the first."""
    types_ = hints(type(config))
    for f in fields(config):
        value, path = getattr(config, f.name), f"{prefix}{f.name}"
        tp, optional = _strip_optional(types_[f.name])
        if value is None:
            continue
        if is_dataclass(tp):
            validate(value, f"{path}.")
            continue
        if value == UNSET:
            raise UserError(
                f"{path} has no value (was its group deleted with ~{path.split('.')[0]}?); set it, "
                f"e.g. {path.split('.')[0]}=<option>"
            )
        allowed = choices(types_[f.name])
        items = value if get_origin(tp) is list else [value]
        if get_origin(tp) is list:
            _check_distinct(items, path)
        for item in items:
            if allowed is not None and item not in allowed:
                where = f"{path}: {item!r}" if get_origin(tp) is list else f"{path}={item!r}"
                raise UserError(f"{where} is not one of {allowed}")
            if isinstance(item, str) and not item.strip():  # a name or a path that names nothing
                if isinstance(value, list):
                    raise UserError(f"{path}={format_value(value)} has an empty item; remove it or give a value")
                raise UserError(f"{path} is empty; give a value" + (", or null for the default" if optional else ""))
            _check_range(item, info(f), path, value)
    check = getattr(config, "check", None)
    if callable(check):
        check()


def _check_distinct(items: list, path: str) -> None:
    """A list key names a set of things to compute (sizes, seeds, frequencies, colours, layers...): a
    repeated value would only compute the same thing twice and show it as two results."""
    seen: list = []
    for item in items:
        if item in seen:
            raise UserError(f"{path}={format_value(items)} gives {format_value(item)} twice; give each value once")
        seen.append(item)


def _check_range(value: Any, key_info: KeyInfo, path: str, whole: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    shown = f"{path}={format_value(whole)}" + (" must all be" if isinstance(whole, list) else " must be")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{shown} finite numbers" if isinstance(whole, list) else f"{shown} a finite number")
    for bound, holds, sign in (
        (key_info.ge, lambda b: value >= b, ">="),
        (key_info.gt, lambda b: value > b, ">"),
        (key_info.le, lambda b: value <= b, "<="),
    ):
        if bound is not None and not holds(bound):
            raise UserError(f"{shown} {sign} {int(bound) if float(bound).is_integer() else f'{bound:g}'}")


# -- help -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyHelp:
    name: str
    default: str
    choices: tuple | None  # the values it can take (shown_choices), None for an open set
    help: str
    group: bool = False  # a config group (model=, data=): choices come from its options


def format_value(value: Any) -> str:
    """A default as a user would type it on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


def describe(schema: type, prefix: str = "") -> list[KeyHelp]:
    """Every key of the schema (groups first with their own keys), in field order."""
    types_ = hints(schema)
    groups, keys = [], []
    for f in fields(schema):
        meta, tp = info(f), _strip_optional(types_[f.name])[0]
        if meta.group:
            groups.append(KeyHelp(f"{prefix}{f.name}", meta.group, None, meta.help, group=True))
            groups += [k for k in describe(tp, f"{prefix}{f.name}.") if k.default != UNSET]
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        keys.append(KeyHelp(f"{prefix}{f.name}", format_value(default), shown_choices(types_[f.name]), meta.help))
    return groups + keys
