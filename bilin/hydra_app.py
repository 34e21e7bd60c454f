"""Hydra behind the Typer CLI: full override grammar, multirun and launchers.

`run_hydra_command` first composes the config for every point of a sweep (fast, nothing is
written) so that a bad override becomes one line and exit 2 instead of Hydra's multi-line
report; then it rewrites sys.argv and calls the real `@hydra.main` function.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from bilin.config import check_train_config, register_analysis_schemas, register_schemas
from bilin.errors import UserError, exit_with

CONFIG_DIR = Path(os.environ.get("BILIN_CONFIGS", Path(__file__).resolve().parent.parent / "configs"))
INFO_FLAGS = ("help", "hydra_help", "info", "shell_completion")

register_schemas()
register_analysis_schemas()


def config_choices(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, MissingConfigException) and exc.options is not None:
        group = (exc.missing_cfg_file or "").rsplit("/", 1)[0]
        return (f"unknown option {exc.missing_cfg_file!r} for config group '{group}'; "
                f"available: {', '.join(exc.options)}")
    messages = []
    while exc is not None:
        text = str(exc).strip().rstrip(".")
        if text:
            messages.append(text.splitlines()[0])
            key = getattr(exc, "full_key", None)
            if key and key not in text:
                messages[-1] += f" (key: {key})"
        exc = exc.__cause__
    return "; ".join(dict.fromkeys(messages)) or "invalid configuration"


def _sweep_points(overrides: list[str]) -> list[list[str]]:
    """One override list per value of each sweep (linear, not the full product)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    base = []
    sweeps: list[tuple[int, list[str]]] = []
    for i, override in enumerate(parsed):
        if override.is_sweep_override():
            try:
                values = list(override.sweep_string_iterator())
            except HydraException:  # glob() sweeps need the config loader; Hydra checks them
                values = []
            prefix = {"ADD": "+", "FORCE_ADD": "++"}.get(override.type.name, "")
            key = override.get_key_element().lstrip("+")
            sweeps.append((i, [f"{prefix}{key}={v}" for v in values]))
            base.append(f"{prefix}{key}={values[0]}" if values else None)
        else:
            base.append(override.input_line)
    points = [[o for o in base if o is not None]]
    for i, variants in sweeps:
        for variant in variants[1:]:
            point = list(base)
            point[i] = variant
            points.append([o for o in point if o is not None])
    return points


def _check_writable(directory: str) -> None:
    path = Path(directory).expanduser().absolute()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the output directory {path}: {existing} is not a writable directory")


def validate(config_name: str, overrides: list[str], multirun: bool,
             check: Callable[[DictConfig], None]) -> None:
    """Compose every sweep point and run `check` on it; raise UserError on the first problem."""
    try:
        points = _sweep_points(overrides)
    except HydraException as exc:
        raise UserError(f"cannot parse overrides: {_one_line(exc)}") from exc
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name=config_name):
        for point in points:
            try:
                cfg = compose(config_name, overrides=point, return_hydra_config=True)
                out_dir = cfg.hydra.sweep.dir if multirun else cfg.hydra.run.dir
                with open_dict(cfg):
                    del cfg["hydra"]
                OmegaConf.resolve(cfg)
            except (HydraException, OmegaConfBaseException, ValueError) as exc:
                raise UserError(_one_line(exc)) from exc
            check(cfg)
            _check_writable(out_dir)
    GlobalHydra.instance().clear()


def run_hydra_command(prog: str, config_name: str, argv: list[str], main: Callable[[], None],
                      check: Callable[[DictConfig], None]) -> None:
    parser = get_args_parser()

    def refuse(message: str) -> None:  # argparse would print its usage block and exit
        raise UserError(f"{prog}: {message} (see {prog} --help)")

    parser.error = refuse
    try:
        args = parser.parse_intermixed_args(argv)
    except UserError as exc:
        exit_with(exc)
    if not any(getattr(args, flag) for flag in INFO_FLAGS):
        try:
            validate(config_name, args.overrides, args.multirun, check)
        except UserError as exc:
            exit_with(exc)
    sys.argv = [prog, *argv]
    main()


def hydra_output_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def check_train(cfg: DictConfig) -> None:
    from bilin.train.task import check_precision, resolve_device

    check_train_config(cfg)
    # device=cuda without CUDA (or tf32 on CPU) fails here, before any run folder exists
    check_precision(cfg.precision, resolve_device(cfg.device))
    if cfg.resume is not None:
        raise UserError("resume=<run dir> cannot be combined with -m/--multirun")


def make_main(config_name: str, task: Callable[[DictConfig, Path], object]) -> Callable[[], None]:
    """A `@hydra.main` entry point running `task(cfg, run_dir)`; user errors exit 2 in one line."""

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)
    def main(cfg: DictConfig) -> None:
        from bilin.train.task import RunStopped

        try:
            task(cfg, hydra_output_dir())
        except UserError as exc:
            exit_with(exc)
        except RunStopped as exc:
            exit_with(exc, exc.exit_code)

    return main


def _train(cfg: DictConfig, run_dir: Path) -> None:
    from bilin.train.task import run_train

    record = run_train(cfg, run_dir)
    print(f"run complete: {run_dir} | val acc {record['final']['val_acc'] * 100:.2f}% | "
          f"{record['train_seconds']:.1f} s training")


def _lazy(module: str, name: str) -> Callable[[DictConfig, Path], object]:
    def task(cfg: DictConfig, run_dir: Path) -> object:
        import importlib

        return getattr(importlib.import_module(module), name)(cfg, run_dir)

    return task


def check_analysis(cfg: DictConfig) -> None:
    from bilin.config import check_recipe_config
    from bilin.train.task import resolve_device

    check_recipe_config(cfg)
    resolve_device(cfg.device)


train_main = make_main("train", _train)
ANALYSIS_MAINS = {
    "decompose": make_main("decompose", _lazy("bilin.tasks.decompose", "run_decompose")),
    "truncate": make_main("truncate", _lazy("bilin.tasks.grid", "run_truncate")),
    "similarity": make_main("similarity", _lazy("bilin.tasks.grid", "run_similarity")),
    "noise_sweep": make_main("noise_sweep", _lazy("bilin.tasks.sweeps", "run_noise_sweep")),
    "accuracy": make_main("accuracy", _lazy("bilin.tasks.sweeps", "run_accuracy")),
    "featvis": make_main("featvis", _lazy("bilin.tasks.featvis", "run_featvis")),
    "probe_csf": make_main("probe_csf", _lazy("bilin.tasks.csf", "run_probe_csf")),
}


def check_featvis(cfg: DictConfig) -> None:
    from bilin.config import check_featvis_config
    from bilin.train.task import resolve_device

    check_featvis_config(cfg)
    resolve_device(cfg.device)


def check_csf(cfg: DictConfig) -> None:
    from bilin.config import check_csf_config
    from bilin.train.task import resolve_device

    check_csf_config(cfg)
    resolve_device(cfg.device)


ANALYSIS_CHECKS = {**{name: check_analysis for name in ANALYSIS_MAINS}, "featvis": check_featvis,
                   "probe_csf": check_csf}
