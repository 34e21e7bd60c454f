"""Hydra behind the CLI, for any `Command` that has a schema: composition, checks, sweeps, launchers.

For the command being run it registers in Hydra's ConfigStore the schema's mirror, a primary
config (the defaults list: the schema, Hydra's run folders, the schema's config groups, then the
`experiment=` presets of bilin/configs/experiment/<command>/) and the presets themselves. Before
Hydra starts, every point of a sweep is composed and checked (nothing is written), so a bad
override is one line and exit 2, not Hydra's report; then argv goes to a real `@hydra.main`, so
multirun and launchers (joblib, submitit) work as Hydra documents them.

A command's `continues_run` key (train: resume=<run dir>) finishes an existing run in place with
the run's own saved config; only the command's `continue_keys` may be given with it.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from bilin.cli.hydra_launch import launch_submitit_sweep, submitit_kind
from bilin.cli.hydra_paths import check_paths, hydra_paths
from bilin.errors import UserError, exit_with
from bilin.running import startup_gc, timing
from bilin.running.command import Command
from bilin.running.folder import static_formats
from bilin.settings import schema
from bilin.settings.options import MLP_MODELS

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
PYTHON_GROUP_OPTIONS = {"model": MLP_MODELS}  # group options defined in Python beside the yaml ones
INFO_FLAGS = ("help", "hydra_help", "info", "shell_completion")
NEW_FOLDER = "bilin.new_folder"  # the resolver of the default run and sweep folders (configs/hydra/default.yaml)
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def group_options(group: str, command: Command | None = None) -> list[str]:
    """The choices of a config group; `experiment` is per command."""
    folder = CONFIG_DIR / "experiment" / command.name if group == "experiment" and command else CONFIG_DIR / group
    return sorted({p.stem for p in folder.glob("*.yaml")} | set(PYTHON_GROUP_OPTIONS.get(group, {})))


@dataclasses.dataclass
class LaunchPlan:
    """What the checks found about how the command will launch: through submitit's launcher (local |
    slurm) or not, and each sweep folder as named with whether the user gave it (hydra.sweep.dir=)."""

    submitit: str | None = None
    sweeps: dict[str, bool] = dataclasses.field(default_factory=dict)


def _claim_new_folder(base: str) -> str:
    """The default run (or sweep) folder, claimed as this run's own (`base`, else base_2, ...). Hydra
    creates the run folder itself while it composes the config, with no hook before that, so the
    claim is made where Hydra resolves the folder's name."""
    from bilin.running.folder import claim_folder

    return str(claim_folder(base))


@contextmanager
def _folders_named_not_claimed() -> Iterator[None]:
    """While options are checked, the default folders are only named: nothing is created."""
    OmegaConf.register_new_resolver(NEW_FOLDER, lambda base: base, replace=True)
    try:
        yield
    finally:
        OmegaConf.register_new_resolver(NEW_FOLDER, _claim_new_folder, replace=True)


def register(command: Command) -> None:
    if not OmegaConf.has_resolver(NEW_FOLDER):
        OmegaConf.register_new_resolver(NEW_FOLDER, _claim_new_folder)
    store = ConfigStore.instance()
    store.store(name=f"{command.config_name}_schema", node=schema.hydra_node(command.schema))
    for group, options in PYTHON_GROUP_OPTIONS.items():
        for name, node in options.items():
            store.store(group=group, name=name, node=dataclasses.asdict(node))
    for preset in sorted((CONFIG_DIR / "experiment" / command.name).glob("*.yaml")):
        store.store(group="experiment", name=preset.stem, node=OmegaConf.load(preset), package="_global_")
    groups = [{name: option} for name, option in schema.group_defaults(command.schema).items()]
    defaults = [f"{command.config_name}_schema", {"hydra": "default"}, "_self_", *groups, {"experiment": None}]
    store.store(name=command.config_name, node={"defaults": defaults, "hydra": {"job": {"name": command.name}}})


def invoke(command: Command, argv: list[str]) -> None:
    """`bilin <command> <argv>`: check, then run through Hydra (or continue a run in place)."""
    timing.mark("config")  # composing and checking, then Hydra's run folder (bilin.running.timing)
    prog = f"bilin {command.name}"
    parser = get_args_parser()

    def refuse(message: str) -> None:  # argparse would print its usage block and exit
        raise UserError(f"{prog}: {message} (see {prog} --help)")

    parser.error = refuse
    try:
        args = parser.parse_intermixed_args(argv)
        for flag in ("config_name", "config_path", "config_dir"):
            if getattr(args, flag, None):
                option = "--" + flag.replace("_", "-")
                refuse(
                    f"{option} is not supported: each command has its own config; use experiment=<preset> "
                    "or key=value overrides"
                )
        _refuse_removed_keys(command, args.overrides)
        register(command)
        static_formats()  # a bad BILIN_FIGURE_FORMATS stops here, before any folder or work
        continued = _continued_folder(command, args.overrides)
        if continued is not None:
            if args.multirun:
                raise UserError(f"{command.continues_run}=<run dir> cannot be combined with -m/--multirun")
            _continue(command, continued, [o for o in args.overrides if not o.startswith(f"{command.continues_run}=")])
            return
        plan = LaunchPlan()
        if not any(getattr(args, flag) for flag in INFO_FLAGS):
            plan = _validate(command, args.overrides, args.multirun)
    except UserError as exc:
        exit_with(exc)
    except OSError as exc:
        exit_with(UserError(f"{exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}"))
    sys.argv = [prog, *argv]
    if args.multirun:  # this process may wait long for a launcher's jobs; its own runs resume it too
        startup_gc.resume()
    if plan.submitit is None:
        _hydra_main(command)()
        return
    launch_submitit_sweep(_hydra_main(command), plan.submitit, plan.sweeps)


def _refuse_removed_keys(command: Command, overrides: list[str]) -> None:
    """A key the command no longer has: one line saying what replaced it (Hydra would only say unknown)."""
    removed = dict(command.removed_keys)
    for override in overrides:
        name = override.partition("=")[0].lstrip("+~")
        if name in removed:
            raise UserError(f"{name}= is no longer a key of bilin {command.name}: {removed[name]}")


def _hydra_main(command: Command):
    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=command.config_name)
    def main(cfg: DictConfig) -> None:
        timing.mark("imports")
        from bilin.running.lifecycle import execute  # the run itself needs torch; checks and --help do not

        try:
            config = to_schema(command, cfg)
        except UserError as exc:
            exit_with(exc)
        execute(command, config, Path(HydraConfig.get().runtime.output_dir))

    return main


def to_schema(command: Command, cfg: DictConfig, check: bool = True) -> Any:
    """The composed config as the command's schema instance, checked (unless check=False)."""
    try:
        values = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise UserError(_one_line(exc)) from exc
    values.pop("hydra", None)
    config = schema.load(command.schema, values)
    if check:
        schema.validate(config)
    return config


# -- checks before anything runs --------------------------------------------------------------
def _validate(command: Command, overrides: list[str], multirun: bool) -> LaunchPlan:
    """Compose every sweep point and check it; raise UserError on the first problem."""
    try:
        points = _sweep_points(overrides)
    except HydraException as exc:
        hint = ""
        if any(not arg.isascii() for arg in overrides):
            hint = "; quote a value with characters outside ASCII: key='value' (in the shell: \"key='value'\")"
        raise UserError(f"cannot parse overrides: {_one_line(exc)}{hint}") from exc
    with _folders_named_not_claimed():
        return _validate_points(command, points, multirun)


def _validate_points(command: Command, points: list[list[str]], multirun: bool) -> LaunchPlan:
    plan = LaunchPlan()
    with _compose_api(command):
        for point in points:
            try:
                cfg = compose(command.config_name, overrides=point, return_hydra_config=True)
                folder = "sweep" if multirun else "run"
                given = not str(OmegaConf.to_container(cfg.hydra[folder])["dir"]).startswith(f"${{{NEW_FOLDER}:")
                paths = hydra_paths(cfg.hydra, multirun)
                kind = submitit_kind(cfg.hydra) if multirun else None
                with open_dict(cfg):
                    del cfg["hydra"]
            except (HydraException, OmegaConfBaseException, ValueError) as exc:
                raise UserError(_one_line(exc)) from exc
            to_schema(command, cfg)
            check_paths(paths, multirun, claimed_new=not given)
            if kind is not None:
                plan.submitit = kind
                plan.sweeps[paths["hydra.sweep.dir"][0]] = given
    return plan


@contextmanager
def _compose_api(command: Command) -> Iterator[None]:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name=command.name):
            yield
    finally:
        GlobalHydra.instance().clear()


def _sweep_points(overrides: list[str]) -> list[list[str]]:
    """One override list per value of each sweep (linear, not the full product)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    base: list[str | None] = []
    sweeps: list[tuple[int, list[str]]] = []
    for i, override in enumerate(parsed):
        if override.is_sweep_override():
            try:
                values = list(override.sweep_string_iterator())
            except HydraException:  # glob() sweeps need the config loader; Hydra checks them
                values = []
            prefix = {"ADD": "+", "FORCE_ADD": "++"}.get(override.type.name, "")
            name = override.get_key_element().lstrip("+")
            sweeps.append((i, [f"{prefix}{name}={v}" for v in values]))
            base.append(f"{prefix}{name}={values[0]}" if values else None)
        else:
            base.append(override.input_line)
    points = [[o for o in base if o is not None]]
    for i, variants in sweeps:
        for variant in variants[1:]:
            point = list(base)
            point[i] = variant
            points.append([o for o in point if o is not None])
    return points


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, MissingConfigException) and exc.options is not None:
        group = (exc.missing_cfg_file or "").rsplit("/", 1)[0]
        return (
            f"unknown option {exc.missing_cfg_file!r} for config group '{group}'; available: {', '.join(exc.options)}"
        )
    messages = []
    while exc is not None:
        text = str(exc).strip().rstrip(".")
        if text:
            messages.append(text.splitlines()[0])
            name = getattr(exc, "full_key", None)
            if name and name not in text:
                messages[-1] += f" (key: {name})"
        exc = exc.__cause__
    return "; ".join(dict.fromkeys(messages)) or "invalid configuration"


# -- continuing a run in place ------------------------------------------------------------------
def _continued_folder(command: Command, overrides: list[str]) -> Path | None:
    if command.continues_run is None:
        return None
    given = [o.split("=", 1)[1] for o in overrides if o.startswith(f"{command.continues_run}=")]
    return Path(given[0]) if given and given[0] not in ("", "null") else None


def _made_by(folder: Path) -> str | None:
    """The command that made a run folder, as Hydra recorded it (None when it cannot tell)."""
    try:
        record = yaml.safe_load((folder / ".hydra" / "hydra.yaml").read_text())
        name = record["hydra"]["job"]["name"]
    except (OSError, yaml.YAMLError, UnicodeDecodeError, KeyError, TypeError):
        return None
    return name.replace("_", "-") if isinstance(name, str) else None


def _continue(command: Command, folder: Path, others: list[str]) -> None:
    """Finish the run in `folder` with its own saved config (plus the allowed keys)."""
    name = command.continues_run
    for arg in others:
        key, _, value = arg.partition("=")
        if key not in command.continue_keys or not value:
            allowed = " and ".join(f"{k}=" for k in command.continue_keys)
            raise UserError(
                f"{name}=<run dir> continues the run's own config; only {allowed} may be given with it, not {arg!r}"
            )
    if not folder.is_dir():
        what = "is a file, not a run folder" if folder.exists() else "does not exist"
        raise UserError(f"{name}={folder}: {what}")
    saved = folder / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise UserError(f"{folder} is not a bilin {command.name} run: {saved} not found")
    maker = _made_by(folder)
    if maker not in (None, command.name):
        raise UserError(f"{name}={folder} is not a bilin {command.name} run: it was made by bilin {maker}")
    try:
        cfg = OmegaConf.merge(OmegaConf.load(saved), OmegaConf.from_dotlist(others))
    except (OmegaConfBaseException, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{saved} cannot be read as the run's config ({_one_line(exc)}); it is damaged") from exc
    try:
        config = to_schema(command, cfg, check=False)
    except UserError as exc:  # e.g. another command's keys, in a run whose hydra.yaml is gone
        raise UserError(f"{name}={folder}: its saved config is not a bilin {command.name} config ({exc})") from exc
    schema.validate(config)
    from bilin.running.lifecycle import continuable, execute

    continuable(folder, name)
    check_continued = getattr(config, "check_continued", None)
    if callable(check_continued):  # e.g. train: the checkpoint is of the model the config describes
        check_continued(folder)
    handler = logging.FileHandler(folder / f"{command.name}.log")  # Hydra set this up for the first part
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("bilin")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        execute(command, config, folder, continuing=True)
    finally:
        logger.removeHandler(handler)
        handler.close()
