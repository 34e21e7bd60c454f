"""Where Hydra will write for one composed point, checked before anything runs: every folder and
file it writes must be writable, and a run goes into a folder of its own. Hydra itself reports a
failure there only as its own error block, after the command has started. And what a refused
Slurm sweep wrote, removed again."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from bilin.errors import UserError
from bilin.settings.options import check_writable


def check_paths(paths: dict[str, tuple[str, str]], multirun: bool, claimed_new: bool) -> None:
    for name, (value, folder) in paths.items():
        check_writable(folder, name, value)
        if name.endswith(".filename") and Path(value).is_dir():
            raise UserError(f"{name}={value} is a folder; give the log file's name")
    check_new_folder(paths, multirun, claimed_new)


def check_new_folder(paths: dict[str, tuple[str, str]], multirun: bool, claimed_new: bool) -> None:
    """A run goes into a folder of its own: not the working folder (an empty value), not a folder that
    already holds files (another run's would be overwritten). The default folders are claimed new
    when the run starts (`claimed_new`: bilin.new_folder), so only a folder the user named can be taken."""
    name, (value, folder) = next(iter(paths.items()))
    if not value.strip():
        raise UserError(f"{name} is empty; give the folder the run goes to (or leave it out for the default)")
    job = paths["hydra.sweep.subdir"][1] if multirun else folder  # a sweep's first job
    if claimed_new or not Path(job).is_dir() or not any(Path(job).iterdir()):
        return
    raise UserError(
        f"{name}={value} already holds {'its first job, ' + job if multirun else 'files'} (another run's?); give "
        "a new or empty folder, or finish an interrupted train run in place with bilin train resume=<its folder>"
    )


def hydra_paths(hydra_cfg: DictConfig, multirun: bool) -> dict[str, tuple[str, str]]:
    """{hydra key: (its value, the folder it writes in)} of every place Hydra writes for this point:
    the run (or sweep) folder, the job's folder in a sweep, its .hydra/ subfolder, its log files'
    folders, a launcher's folder. Hydra reports a failure there only as its own error block, after
    the command has started."""
    where = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    out_dir = str(hydra_cfg.sweep.dir if multirun else hydra_cfg.run.dir)
    paths = {where: (out_dir, out_dir)}
    with open_dict(hydra_cfg):
        if multirun:
            hydra_cfg.job.num = 0
            subdir = str(hydra_cfg.sweep.subdir)
            out_dir = str(Path(out_dir) / subdir)
            paths["hydra.sweep.subdir"] = (subdir, out_dir)
        hydra_cfg.runtime.output_dir = out_dir  # what Hydra sets when the job starts
    if hydra_cfg.output_subdir is not None:
        subdir = str(hydra_cfg.output_subdir)
        paths["hydra.output_subdir"] = (subdir, str(Path(out_dir) / subdir))
    for logging_key in ("job_logging", "hydra_logging"):
        handlers = OmegaConf.select(hydra_cfg, f"{logging_key}.handlers") or {}
        for handler, settings in handlers.items():
            filename = settings.get("filename") if isinstance(settings, DictConfig) else None
            if filename is not None:
                key = f"hydra.{logging_key}.handlers.{handler}.filename"
                paths[key] = (str(filename), str(Path(str(filename)).parent))
    launcher_folder = OmegaConf.select(hydra_cfg, "launcher.submitit_folder")
    if launcher_folder is not None:
        paths["hydra.launcher.submitit_folder"] = (str(launcher_folder), str(launcher_folder))
    return paths


def remove_unsubmitted_sweep(sweep: Path, since: float, claimed: bool) -> None:
    """What a refused Slurm sweep wrote into `sweep` since `since` (a time.time()): submitit's job
    pickles and scripts, Hydra's multirun.yaml; then the folders left empty (the sweep folder itself
    only when this process claimed it new). Nothing older is touched: another sweep's files stay."""
    written = [p for p in [*sweep.glob(".submitit/**/*"), sweep / "multirun.yaml"] if _newer(p, since)]
    for path in written:
        if not path.is_dir():
            path.unlink(missing_ok=True)
    folders = sorted((p for p in sweep.glob(".submitit/**/*") if p.is_dir()), key=lambda p: -len(p.parts))
    for folder in [*folders, sweep / ".submitit", *([sweep] if claimed else [])]:
        with suppress(OSError):
            folder.rmdir()  # only when empty


def _newer(path: Path, since: float) -> bool:
    try:
        return not path.is_symlink() and path.stat().st_mtime >= since
    except OSError:
        return False
