"""Whole processes: `bilin train` against the paper authors' trainer, taking turns, as a wall-clock ratio.

    python benchmarks/bench_process.py [--pairs 3] [--epochs 5] [--ref-dir FOLDER] [--ref-git GIT_DIR]

Each side runs as a whole process on the same IDX files with the same settings (d=512, noise 0.5,
seed 420, lr 1e-3, wd 1.0, batch 2048, CPU), timed from process start to exit, the sides rotating
which goes first: the authors' trainer, `bilin train`, and `bilin train` writing HTML and JSON
figures only (BILIN_FIGURE_FORMATS="": what the PNG/SVG export costs). Printed: each round, the
medians, the ratios to the authors', each side's fixed overhead (wall minus its own training
seconds), bilin's run.json `timing` breakdown, and `bilin --help` and `bilin train
experiment=smoke` end to end, all against issue 26's goals.

The authors' side is ../shared/anchors/bench_ref.py (beside the working folder or this checkout)
running tdooms/bilinear-interp's `image/model.py`, set up as that folder's README says in a folder
outside the repository (--ref-dir, else $BILIN_ANCHOR_DIR, else ~/.cache/bilin/anchors) from a fetched
git directory of their repository (--ref-git, else $BILIN_REF_GIT, else ../.mirror/tdooms+bilinear-interp/repo).
Their code is never copied into this repository; without it only bilin's side is timed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bilin.data.roots import choose_root, search_folders, source_checkout

D_HIDDEN, NOISE, SEED, LR, WD, BATCH = 512, 0.5, 420, 1e-3, 1.0, 2048
GOAL_RATIO, GOAL_OVERHEAD, GOAL_SMOKE, GOAL_HELP = 0.8, 4.0, 6.0, 0.5  # issue 26
AUTHORS_REPO = "tdooms/bilinear-interp"
AUTHORS_PACKAGES = ("pandas", "tqdm", "jaxtyping")  # what their code imports beyond bilin's torch, kornia, einops
READY = "READY"  # written last into the set-up folder: its content is the authors' commit


@dataclass
class Timed:
    """One whole process: wall and CPU seconds from start to exit, and the training seconds it reports."""

    wall: float
    cpu: float
    train: float
    timing: dict = field(default_factory=dict)  # bilin's run.json `timing`, when it records one

    @property
    def overhead(self) -> float:
        return self.wall - self.train


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else ():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def timed_run(command: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a process to its exit: the result, wall seconds and the CPU seconds of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        sys.exit(f"bench_process: `{' '.join(command)}` failed ({done.returncode}): {tail[0]}")
    return done, wall, cpu


def beside_checkout(relative: str) -> list[Path]:
    """`relative` beside the working folder, then beside this checkout, as bilin looks for ../shared/data."""
    bases = [Path.cwd(), source_checkout() or Path.cwd()]
    return list(dict.fromkeys(Path(os.path.normpath(base / relative)) for base in bases))


# -- the authors' side ---------------------------------------------------------------------------


def first_existing(given: str | None, relative: str, env_var: str | None = None) -> Path | None:
    """`given`, else $env_var, else the first `relative` beside the working folder or this checkout."""
    given = given or (os.environ.get(env_var) if env_var else None)
    if given:
        path = Path(given).expanduser()
        return path if path.exists() else None
    return next((path for path in beside_checkout(relative) if path.exists()), None)


def prepare_authors(ref_dir: Path, ref_git: str | None, anchors: str | None) -> Path | None:
    """The set-up folder (bench_ref.py, ref_model.py, ref_components.py, extra/), made once from a
    fetched git directory of the authors' repository; None, after one line saying why, when it cannot be."""
    if (ref_dir / READY).is_file():
        return ref_dir
    how = (
        f"fetch {AUTHORS_REPO} and give its git directory (--ref-git or $BILIN_REF_GIT), as "
        "../shared/anchors/README.md says"
    )
    git_dir = first_existing(ref_git, f"../.mirror/{AUTHORS_REPO.replace('/', '+')}/repo", "BILIN_REF_GIT")
    harness = first_existing(anchors and f"{anchors}/bench_ref.py", "../shared/anchors/bench_ref.py")
    if git_dir is None or harness is None:
        missing = "their code" if git_dir is None else "the harness ../shared/anchors/bench_ref.py"
        print(f"authors' trainer skipped: {missing} not found; {how} (set up once into {ref_dir})", flush=True)
        return None
    ref_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".anchors-", dir=ref_dir.parent))
    try:
        commit = build_authors(git_dir, harness, building)
        shutil.rmtree(ref_dir, ignore_errors=True)  # a half-made folder of an earlier try
        building.rename(ref_dir)
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
        shutil.rmtree(building, ignore_errors=True)
        reason = exc.stderr.strip().splitlines()[-1] if getattr(exc, "stderr", None) else exc
        print(f"authors' trainer skipped: setting it up from {git_dir} failed ({reason}); {how}", flush=True)
        return None
    print(f"authors' trainer set up in {ref_dir} from {AUTHORS_REPO} at {commit[:12]}", flush=True)
    return ref_dir


def build_authors(git_dir: Path, harness: Path, folder: Path) -> str:
    """../shared/anchors/README.md's steps 1-3 into `folder`; returns the authors' commit."""

    def show(path: str) -> str:
        git = ["git", "-C", str(git_dir), "show", f"HEAD:{path}"]
        return subprocess.run(git, capture_output=True, text=True, check=True).stdout

    model = show("image/model.py")
    if "from shared.components import" not in model:
        raise ValueError("their image/model.py no longer imports shared.components; follow the README by hand")
    model = model.replace("from shared.components import", "from ref_components import")
    model = "\n".join(line for line in model.splitlines() if line.strip() != "from shared.hub import *")
    (folder / "ref_model.py").write_text(model + "\n")
    (folder / "ref_components.py").write_text(show("shared/components.py"))
    shutil.copyfile(harness, folder / "bench_ref.py")
    extra = folder / "extra"
    extra.mkdir()
    # only what bilin's venv lacks, so both sides use the same numpy, pandas and torch
    missing = [name for name in AUTHORS_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        pip = [sys.executable, "-m", "pip", "install", "-q", "--target", str(extra), *missing]
        subprocess.run(pip, capture_output=True, text=True, check=True)
    for numpy in [*extra.glob("numpy"), *extra.glob("numpy-*"), *extra.glob("numpy.libs")]:
        shutil.rmtree(numpy)
    commit = subprocess.run(
        ["git", "-C", str(git_dir), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (folder / READY).write_text(commit + "\n")
    return commit


def run_authors(ref_dir: Path, root: Path, epochs: int) -> Timed:
    command = [sys.executable, str(ref_dir / "bench_ref.py"), str(root), "MNIST", str(epochs), str(D_HIDDEN)]
    command += [str(NOISE), str(SEED), "cpu"]
    done, wall, cpu = timed_run(command, {**os.environ, "PYTHONPATH": str(ref_dir / "extra")})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        sys.exit("bench_process: the authors' trainer printed no RESULT line")
    return Timed(wall, cpu, json.loads(lines[-1].removeprefix("RESULT "))["train_s"])


# -- bilin's side --------------------------------------------------------------------------------


def bilin_command() -> list[str]:
    script = Path(sys.executable).with_name("bilin")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bilin"]


def run_bilin(arguments: list[str], env: dict[str, str] | None = None) -> Timed:
    """`bilin <arguments>` into a fresh outputs folder; its training seconds and timing from run.json."""
    with tempfile.TemporaryDirectory(prefix="bilin-bench-") as outputs:
        _, wall, cpu = timed_run(
            [*bilin_command(), *arguments, f"outputs_root={outputs}"], {**os.environ, **(env or {})}
        )
        records = sorted(Path(outputs).glob(f"{arguments[0]}/*/*/run.json"))
        if not records:
            sys.exit(f"bench_process: bilin {' '.join(arguments)} wrote no run.json")
        record = json.loads(records[-1].read_text())
    return Timed(wall, cpu, record.get("train_seconds", 0.0), record.get("timing") or {})


def train_arguments(root: Path, epochs: int) -> list[str]:
    settings = dict(d_hidden=D_HIDDEN, epochs=epochs, noise=NOISE, seed=SEED, lr=LR, wd=WD, batch_size=BATCH)
    return ["train", "data=mnist", f"data.root={root}", "device=cpu", *(f"{k}={v}" for k, v in settings.items())]


# -- the pairs and the report ------------------------------------------------------------------


def median(runs: list[Timed], attribute: str) -> float:
    return statistics.median(getattr(run, attribute) for run in runs)


HTML_ONLY = "html-only"  # bilin train with BILIN_FIGURE_FORMATS="": no PNG/SVG, so no browser


def time_pairs(ref_dir: Path | None, root: Path, count: int, epochs: int) -> dict[str, list[Timed]]:
    """`count` rounds, rotating which side goes first (bilin alone without the authors' code), each
    printed as it ends. The third side is bilin writing HTML and JSON figures only: what PNG/SVG cost."""
    sides: dict[str, list[Timed]] = {"authors": [], "bilin": [], HTML_ONLY: []}
    if ref_dir is None:
        del sides["authors"]
    print(f"{'pair':>4}  {'first':9}" + "".join(f"{name:>10}" for name in sides) + "   wall, process start to exit")
    for number in range(count):
        order = list(sides)[number % len(sides) :] + list(sides)[: number % len(sides)]
        runs = {}
        for side in order:
            if side == "authors":
                runs[side] = run_authors(ref_dir, root, epochs)
            else:
                runs[side] = run_bilin(
                    train_arguments(root, epochs), {"BILIN_FIGURE_FORMATS": ""} if side == HTML_ONLY else None
                )
            sides[side].append(runs[side])
        print(f"{number + 1:>4}  {order[0]:9}" + "".join(f"{runs[name].wall:9.1f}s" for name in sides), flush=True)
    return sides


def print_medians(sides: dict[str, list[Timed]]) -> None:
    names = list(sides)
    runs = len(sides["bilin"])
    print(f"{f'median of {runs}':22}" + "".join(f"{name:>10}" for name in names))
    for label, attribute in (("wall", "wall"), ("CPU", "cpu"), ("training", "train"), ("overhead", "overhead")):
        print(f"{label:22}" + "".join(f"{median(sides[name], attribute):9.1f}s" for name in names))


def print_timing(runs: list[Timed]) -> None:
    """bilin's own breakdown (run.json `timing`), whatever keys it has: numbers as medians."""
    keys = list(dict.fromkeys(key for run in runs for key in run.timing))
    if not keys:
        print("bilin's run.json has no `timing` breakdown")
        return
    parts = []
    for key in keys:
        values = [run.timing[key] for run in runs if key in run.timing]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        parts.append(f"{key} {statistics.median(values):.2f}" if numbers else f"{key} {values[-1]}")
    print("bilin's run.json timing (median): " + ", ".join(parts))


def print_goals(rows: list[tuple[str, float | None, str, float]]) -> None:
    print(f"{'issue 26 goal':34} {'measured':>9} {'goal':>8}  met")
    for label, value, unit, goal in rows:
        shown = "-" if value is None else f"{value:.2f}{unit}"
        met = "-" if value is None else ("yes" if value <= goal else "no")
        print(f"{label:34} {shown:>9} {'<= ' + f'{goal:g}{unit}':>8}  {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3, help="rounds of the sides, rotating which goes first")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of each run")
    default_ref = os.environ.get("BILIN_ANCHOR_DIR") or "~/.cache/bilin/anchors"
    parser.add_argument("--ref-dir", default=default_ref, help="the authors' set-up folder (outside the repo)")
    parser.add_argument("--ref-git", help="a fetched git directory of tdooms/bilinear-interp, to set it up from")
    parser.add_argument("--anchors", help="the folder holding bench_ref.py (default: ../shared/anchors)")
    parser.add_argument("--data", help="the folder holding MNIST/raw/*.gz (default: bilin's data rule)")
    args = parser.parse_args()
    if args.pairs < 1 or args.epochs < 1:
        parser.error("--pairs and --epochs must be at least 1")
    root = choose_root(args.data, lambda folder: (folder / "MNIST/raw/train-images-idx3-ubyte.gz").is_file()).path
    if not (root / "MNIST/raw/train-images-idx3-ubyte.gz").is_file():
        searched = ", ".join(str(folder) for folder in search_folders())
        sys.exit(f"bench_process: no MNIST/raw/*.gz in {args.data or searched}; give --data or set BILIN_DATA")
    ref_dir = prepare_authors(Path(args.ref_dir).expanduser(), args.ref_git, args.anchors)
    print(
        f"whole processes on {cpu_model()} ({os.cpu_count()} CPUs): d={D_HIDDEN} MNIST, {args.epochs} epochs, "
        f"noise {NOISE}, seed {SEED}, lr {LR:g}, wd {WD}, batch {BATCH}, data {root}",
        flush=True,
    )
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: modules without a cached .pyc are compiled in every process")
    sides = time_pairs(ref_dir, root, args.pairs, args.epochs)
    print_medians(sides)
    ratio = None
    if "authors" in sides:
        ratio = median(sides["bilin"], "wall") / median(sides["authors"], "wall")
        by_cpu = median(sides["bilin"], "cpu") / median(sides["authors"], "cpu")
        print(f"ratio bilin/authors: {ratio:.2f} by wall clock, {by_cpu:.2f} by CPU time")
        html_only = median(sides[HTML_ONLY], "wall") / median(sides["authors"], "wall")
        print(f"ratio bilin (HTML + JSON figures only)/authors: {html_only:.2f} by wall clock")
    print_timing(sides["bilin"])
    smoke = statistics.median(run_bilin(["train", "experiment=smoke", f"data.root={root}"]).wall for _ in range(3))
    helps = statistics.median(timed_run([*bilin_command(), "--help"])[1] for _ in range(5))
    print_goals(
        [
            (f"train process / authors' ({args.epochs} ep)", ratio, "x", GOAL_RATIO),
            ("fixed overhead (wall - training)", median(sides["bilin"], "overhead"), "s", GOAL_OVERHEAD),
            ("bilin train experiment=smoke (m/3)", smoke, "s", GOAL_SMOKE),
            ("bilin --help (median of 5)", helps, "s", GOAL_HELP),
        ]
    )


if __name__ == "__main__":
    main()
