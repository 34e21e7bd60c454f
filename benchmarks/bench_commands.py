"""Whole processes of the commands that read a trained model, and of a sequential sweep, with their
run.json breakdown: where each one's wall time goes beside its own work.

    python benchmarks/bench_commands.py [--repeats 3] [--data FOLDER]

One d=512 MNIST model is trained first (5 epochs, as bench_process.py's); then, each `--repeats`
times (medians printed): `bilin decompose run=<it>`, `bilin featvis run=<it> steps=128`, both also
with BILIN_FIGURE_FORMATS="" (HTML and JSON figures only, no browser), a sequential sweep of 20
`experiment=smoke` trainings in one process, and `bilin report` of those 20 runs. A command's own
work is its run.json `other` phase (the phases a command does not name), its fixed overhead the
rest of the process's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_process import bilin_command, cpu_model, timed_run, train_arguments  # noqa: E402

from bilin.data.roots import choose_root  # noqa: E402

SWEEP = 20


def run(arguments: list[str], env: dict[str, str] | None = None) -> float:
    """`bilin <arguments>` to its exit: wall seconds."""
    return timed_run([*bilin_command(), *arguments], {**os.environ, **(env or {})})[1]


def newest_timing(outputs: Path) -> dict:
    records = sorted(outputs.rglob("run.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(records[-1].read_text()).get("timing", {}) if records else {}


def timed_command(arguments: list[str], repeats: int, env: dict[str, str] | None = None) -> tuple[float, dict]:
    """Median wall and median phases of `repeats` runs of `bilin <arguments>`, each into a fresh outputs root."""
    walls, timings = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bilin-bench-") as outputs:
            walls.append(run([*arguments, f"outputs_root={outputs}"], env))
            timings.append(newest_timing(Path(outputs)))
    keys = list(dict.fromkeys(k for t in timings for k in t))
    phases = {k: statistics.median(t.get(k, 0.0) for t in timings) for k in keys}
    return statistics.median(walls), phases


def print_row(label: str, wall: float, phases: dict) -> None:
    work = phases.get("other", 0.0)
    breakdown = ", ".join(f"{k} {v:.2f}" for k, v in phases.items() if k != "total")
    print(f"{label:44} {wall:6.2f}s  work {work:5.2f}s  overhead {wall - work:5.2f}s | {breakdown}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command (medians printed)")
    parser.add_argument("--data", help="the folder holding MNIST/raw/*.gz (default: bilin's data rule)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    root = choose_root(args.data, lambda folder: (folder / "MNIST/raw/train-images-idx3-ubyte.gz").is_file()).path
    if not (root / "MNIST/raw/train-images-idx3-ubyte.gz").is_file():
        sys.exit(f"bench_commands: no MNIST/raw/*.gz under {args.data or 'the data folders'}; give --data")
    print(f"commands on {cpu_model()} ({os.cpu_count()} CPUs), medians of {args.repeats}; data {root}", flush=True)
    work_dir = Path(tempfile.mkdtemp(prefix="bilin-bench-commands-"))
    try:
        trained = work_dir / "trained"
        run([*train_arguments(root, 5), f"outputs_root={trained}"])
        model = next(trained.glob("train/*/*/run.json")).parent
        html_only = {"BILIN_FIGURE_FORMATS": ""}
        for label, arguments in (
            ("decompose (d=512, 12 figures)", ["decompose", f"run={model}"]),
            ("featvis steps=128 (10 classes, 3 figures)", ["featvis", f"run={model}", "steps=128"]),
        ):
            print_row(label, *timed_command(arguments, args.repeats))
            print_row("  the same, HTML + JSON figures only", *timed_command(arguments, args.repeats, html_only))
        sweep = work_dir / "sweep"
        wall = run(
            ["train", "-m", "experiment=smoke", f"data.root={root}", f"outputs_root={sweep}", f"seed=range(0,{SWEEP})"]
        )
        later = [json.loads(p.read_text())["timing"]["total"] for p in sweep.rglob("run.json") if p.parent.name != "0"]
        print(
            f"{f'sequential sweep of {SWEEP} smoke trainings':44} {wall:6.2f}s  "
            f"{wall / SWEEP:.2f}s a run; each run after the first: {statistics.median(later):.2f}s (median)"
        )
        report_walls = []
        for _ in range(args.repeats):
            shutil.rmtree(sweep / "report", ignore_errors=True)
            report_walls.append(timed_run([*bilin_command(), "report", str(sweep)])[1])
        print(f"{f'report of those {SWEEP} runs (explorers rebuilt)':44} {statistics.median(report_walls):6.2f}s")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
