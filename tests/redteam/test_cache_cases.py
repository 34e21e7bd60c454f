"""Red-team cases for the model cache (issue 20, classes 1, 2, 4 and 8), through the real CLI.

Destructive commands must touch only provable entries of the cache; `cache add` and the grid
commands must refuse what the cache cannot vouch for; a died entry is shown as died; run.json says
which models were trained, waited for or reused. Every case also asserts (run_case) that nothing
outside the command's own folders changed. "{s0}" and "{s1}" in args and own are the names of the
entries of seeds 0 and 1 of GRID.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bilin.cache.entries import ENTRY_MARKER, ROOT_MARKER, mark_root
from tests.conftest import TINY_ARGS, run_bilin
from tests.redteam.harness import Case, run_case

GRID = ["sizes=[8]", "seeds=[0,1]", "epochs=2", "batch_size=64", "k_max=2", "device=cpu", "quiet=true"]
SOURCES: dict[str, Path] = {}  # filled by the `sources` fixture: what the cases copy into their worlds
NAMES: list[str] = []  # the entry names of seeds 0 and 1
HELD: list[int] = []  # lock files a case holds while its command runs (as a training process would)
THREADS: list[threading.Thread] = []


@pytest.fixture(scope="module")
def sources(tmp_path_factory, tiny_root) -> dict[str, Path]:
    """One cache of GRID's two entries, one train run, and one train run on relabelled data."""
    where = tmp_path_factory.mktemp("cache_sources")
    env = {"BILIN_DATA": str(tiny_root)}
    relabelled = Path(shutil.copytree(tiny_root, where / "relabelled_data"))
    labels = relabelled / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    raw = gzip.decompress(labels.read_bytes())
    permuted = np.random.default_rng(0).permutation(np.frombuffer(raw[8:], dtype=np.uint8))
    labels.write_bytes(gzip.compress(raw[:8] + permuted.tobytes()))
    for args in (
        ["truncate", *GRID, f"cache_root={where / 'cache'}", f"hydra.run.dir={where / 'grid'}"],
        ["train", *TINY_ARGS, f"hydra.run.dir={where / 'run'}"],
        ["train", *TINY_ARGS, f"data.root={relabelled}", f"hydra.run.dir={where / 'relabelled'}"],
    ):
        result = run_bilin(args, where, env)
        assert result.returncode == 0, result.stderr
    SOURCES.update(cache=where / "cache", run=where / "run", relabelled=where / "relabelled")
    NAMES[:] = sorted(p.name for p in (where / "cache").iterdir() if p.is_dir())
    assert len(NAMES) == 2 and "-s0-" in NAMES[0] and "-s1-" in NAMES[1]
    return SOURCES


@pytest.fixture(autouse=True)
def release_held():
    yield
    for thread in THREADS:
        thread.join(timeout=300)
    THREADS.clear()
    while HELD:
        os.close(HELD.pop())  # closing drops the flock


# -- worlds ---------------------------------------------------------------------------------------
def cache_at(world: Path, where: str = "cwd/outputs/cache") -> Path:
    return Path(shutil.copytree(SOURCES["cache"], world / where, dirs_exist_ok=True))


def outside(world: Path) -> Path:
    (world / "x" / "sub").mkdir(parents=True)
    (world / "x" / "keep.txt").write_text("not the cache's")
    return world / "x"


def hold(lock: Path) -> int:
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    HELD.append(fd)
    return fd


def died_and_training(world: Path) -> None:
    """Seed 0's training died (marked, no recipe.json, nobody holds its lock); seed 1 is being
    trained (no recipe.json yet, its lock held)."""
    cache = cache_at(world)
    (cache / NAMES[0] / "recipe.json").unlink()
    (cache / NAMES[1] / "recipe.json").unlink()
    hold(cache / f"{NAMES[1]}.lock")


def swapped(world: Path) -> None:
    """Seed 0's weights and checksums.json replaced by seed 1's (consistent with each other)."""
    cache = cache_at(world)
    for name in ("model.safetensors", "checksums.json"):
        shutil.copy2(cache / NAMES[1] / name, cache / NAMES[0] / name)


def symlinked_entry(world: Path) -> None:
    cache = cache_at(world)
    (world / "elsewhere").mkdir()
    shutil.move(cache / NAMES[0], world / "elsewhere" / NAMES[0])
    (cache / NAMES[0]).symlink_to(world / "elsewhere" / NAMES[0])


def stray_link(world: Path) -> None:
    cache_at(world)
    outside(world)
    (world / "cwd" / "outputs" / "cache" / "stray").symlink_to(world / "x")


def runs_beside_the_cache(world: Path) -> None:
    cache_at(world)
    for stamp in ("2026-01-01/10-00-00", "2026-01-01/11-00-00"):
        shutil.copytree(SOURCES["run"], world / "cwd" / "outputs" / "train" / stamp)


def a_run(name: str, edit=None):
    def setup(world: Path) -> None:
        run = Path(shutil.copytree(SOURCES[name], world / "cwd" / "runs" / name))
        if edit:
            edit(run)

    return setup


def edit_config_noise(run: Path) -> None:
    config = run / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("noise: 0.5", "noise: 0.3"))


def drop_data_record(run: Path) -> None:
    record = json.loads((run / "run.json").read_text())
    del record["data"]
    (run / "run.json").write_text(json.dumps(record))


def legacy(world: Path) -> None:
    """A cache of an older bilin: no markers, no SHA-256 of the weights in recipe.json."""
    cache = cache_at(world, "cwd/legacy")
    (cache / ROOT_MARKER).unlink()
    for name in NAMES:
        (cache / name / ENTRY_MARKER).unlink()
        record = json.loads((cache / name / "recipe.json").read_text())
        del record["weights_sha256"]
        (cache / name / "recipe.json").write_text(json.dumps(record))


def died_beside_a_folder_of_the_user(world: Path) -> None:
    cache = cache_at(world)
    (cache / NAMES[0] / "recipe.json").unlink()
    (cache / "notes").mkdir()
    (cache / "notes" / "todo.txt").write_text("mine")


def waited_for_seed0(world: Path) -> None:
    """Another process (this thread) holds seed 0's lock and stores it once the command waits."""
    cache = world / "cwd" / "outputs" / "cache"
    mark_root(cache)
    fd = hold(cache / f"{NAMES[0]}.lock")
    log = world / "cwd" / "run" / "truncate.log"

    def train_elsewhere_then_release() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (log.is_file() and "waiting for" in log.read_text()):
            time.sleep(0.1)
        shutil.copytree(SOURCES["cache"] / NAMES[0], cache / NAMES[0])
        fcntl.flock(fd, fcntl.LOCK_UN)

    THREADS.append(threading.Thread(target=train_elsewhere_then_release, daemon=True))
    THREADS[-1].start()


# -- checks ---------------------------------------------------------------------------------------
def row(result, name: str) -> str:
    return next(line for line in result.stdout.splitlines() if name in line)


def gone(*names: str):
    def check(world: Path, result) -> None:
        for name in names:
            name = name.replace("{s0}", NAMES[0]).replace("{s1}", NAMES[1])
            assert not (world / name).exists(), name

    return check


def died_removed_training_kept(world: Path, result) -> None:
    cache = world / "cwd" / "outputs" / "cache"
    assert not (cache / NAMES[0]).exists() and (cache / NAMES[1]).is_dir()
    assert result.stdout.count("removed ") == 1


def shows_died_and_training(world: Path, result) -> None:
    assert "died" in row(result, NAMES[0]) and "last write 20" in row(result, NAMES[0])
    assert "training" in row(result, NAMES[1])


def swapped_is_damaged(world: Path, result) -> None:
    assert "damaged" in row(result, NAMES[0]) and "ok" in row(result, NAMES[1])


def adopted_and_vouched(world: Path, result) -> None:
    [entry] = [p for p in (world / "cwd" / "newcache").iterdir() if p.is_dir()]
    record = json.loads((entry / "recipe.json").read_text())
    sums = json.loads((entry / "checksums.json").read_text())
    assert record["weights_sha256"] == sums["model.safetensors"] and (entry / ENTRY_MARKER).is_file()
    assert (world / "cwd" / "newcache" / ROOT_MARKER).is_file()


def waited_recorded(world: Path, result) -> None:
    THREADS[-1].join(timeout=300)
    record = json.loads((world / "cwd" / "run" / "run.json").read_text())
    assert record["model_sources"] == {NAMES[0]: "waited_for", NAMES[1]: "trained"}
    assert record["cache_hits"] == 1 and record["waiting_seconds"] > 0 and record["training_seconds"] > 0


def legacy_listed(world: Path, result) -> None:
    assert "damaged" in row(result, NAMES[0]) and "older bilin" in result.stdout


REFUSED = "is not an entry of the model cache"
CASES = [
    Case("remove-parent-folder", 1, ("cache", "remove", "../x"), REFUSED, setup=lambda w: (cache_at(w), outside(w))),
    Case(
        "remove-absolute-outside", 1, ("cache", "remove", "{w}/x"), REFUSED, setup=lambda w: (cache_at(w), outside(w))
    ),
    Case(
        "remove-dotdot-from-inside-the-cache",
        1,
        ("cache", "remove", "..", "--root", "."),
        ".. is not an entry",
        setup=lambda w: cache_at(w, "cwd"),
    ),
    Case(
        "remove-entry-slash-dotdot",
        1,
        ("cache", "remove", "outputs/cache/{s0}/.."),
        REFUSED,
        setup=lambda w: cache_at(w),
    ),
    Case("remove-symlinked-entry", 8, ("cache", "remove", "{s0}"), "symbolic link", setup=symlinked_entry),
    Case(
        "remove-unmarked-folder",
        1,
        ("cache", "remove", "sub"),
        "no .bilin-cache-entry marker",
        setup=lambda w: (cache_at(w), (w / "cwd" / "outputs" / "cache" / "sub").mkdir()),
    ),
    Case(
        "remove-with-root-not-a-cache",
        1,
        ("cache", "remove", "sub", "--root", "{w}/x"),
        "is not a model cache",
        setup=outside,
    ),
    Case(
        "verify-remove-with-root-outputs",
        1,
        ("cache", "verify", "--remove", "--root", "outputs"),
        "--root outputs is not a model cache",
        setup=runs_beside_the_cache,
    ),
    Case(
        "verify-remove-with-a-symlink-inside",
        8,
        ("cache", "verify", "--remove"),
        "stray; nothing removed",
        setup=stray_link,
    ),
    Case(
        "verify-remove-with-an-unmarked-folder-inside",
        1,
        ("cache", "verify", "--remove"),
        "notes; nothing removed",
        setup=died_beside_a_folder_of_the_user,
    ),
    Case(
        "add-into-a-folder-of-runs",
        1,
        ("cache", "add", "runs/run", "--root", "outputs"),
        "outputs is not a model cache and holds other things",
        setup=lambda w: (runs_beside_the_cache(w), a_run("run")(w)),
    ),
    Case(
        "grid-with-cache-root-on-a-folder-of-runs",
        1,
        ("truncate", *GRID, "cache_root=outputs", "hydra.run.dir=run"),
        "outputs is not a model cache and holds other things",
        own=("cwd/run",),
        setup=runs_beside_the_cache,
    ),
    Case(
        "verify-remove-died-but-not-training",
        1,
        ("cache", "verify", "--remove"),
        own=("cwd/outputs/cache/{s0}", "cwd/outputs/cache/{s0}.lock"),
        setup=died_and_training,
        check=died_removed_training_kept,
    ),
    Case("list-died-and-training", 4, ("cache", "list"), setup=died_and_training, check=shows_died_and_training),
    Case(
        "remove-entry-being-trained",
        1,
        ("cache", "remove", "{s1}"),
        "being trained by another process",
        setup=died_and_training,
    ),
    Case(
        "remove-entry-by-name",
        1,
        ("cache", "remove", "{s0}"),
        own=("cwd/outputs/cache/{s0}", "cwd/outputs/cache/{s0}.lock"),
        setup=lambda w: cache_at(w),
        check=gone("cwd/outputs/cache/{s0}"),
    ),
    Case(
        "remove-entry-of-an-older-cache-without-markers",
        1,
        ("cache", "remove", "legacy/{s0}", "--root", "legacy"),
        own=("cwd/legacy/{s0}", "cwd/legacy/{s0}.lock"),
        setup=legacy,
        check=gone("cwd/legacy/{s0}"),
    ),
    Case("list-an-older-cache", 2, ("cache", "list", "--root", "legacy"), setup=legacy, check=legacy_listed),
    Case(
        "verify-swapped-weights-and-checksums",
        2,
        ("cache", "verify"),
        "1 damaged or incomplete",
        setup=swapped,
        check=swapped_is_damaged,
    ),
    Case(
        "grid-refuses-swapped-weights",
        2,
        ("truncate", *GRID, "hydra.run.dir=run"),
        "is not the weights its recipe.json records",
        own=("cwd/run",),
        setup=swapped,
    ),
    Case(
        "add-run-on-relabelled-data",
        2,
        ("cache", "add", "runs/relabelled"),
        "was trained on other mnist data",
        setup=a_run("relabelled"),
    ),
    Case(
        "add-run-whose-config-was-edited",
        2,
        ("cache", "add", "runs/run"),
        "noise: 0.5 recorded, 0.3 in config",
        setup=a_run("run", edit_config_noise),
    ),
    Case(
        "add-run-without-data-record",
        2,
        ("cache", "add", "runs/run"),
        "records no SHA-256",
        setup=a_run("run", drop_data_record),
    ),
    Case(
        "add-run-vouched-for",
        2,
        ("cache", "add", "runs/run", "--root", "newcache"),
        own=("cwd/newcache",),
        setup=a_run("run"),
        check=adopted_and_vouched,
    ),
    Case(
        "grid-records-a-model-it-waited-for",
        2,
        ("truncate", *GRID, "hydra.run.dir=run"),
        own=("cwd/outputs", "cwd/run"),
        setup=waited_for_seed0,
        check=waited_recorded,
    ),
]


def named(case: Case) -> Case:
    def sub(text: str) -> str:
        return text.replace("{s0}", NAMES[0]).replace("{s1}", NAMES[1])

    return replace(case, args=tuple(map(sub, case.args)), own=tuple(map(sub, case.own)))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_cache_case(case: Case, sources, tmp_path, tiny_root) -> None:
    (tmp_path / "world" / "cwd").mkdir(parents=True)
    run_case(named(case), tmp_path / "world", tiny_root)
