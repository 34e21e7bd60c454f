"""The red team's cases on `bilin report` and `bilin.runs()` (issue 20, classes 1, 3, 4 and 7): the
report deletes and overwrites only what it wrote, never writes among the runs it reads, shows a
killed run as died, keeps every run value escaped and every page name distinct, rebuilds or drops
an explorer whose model.json changed, and checks --watch and the folders it is given for meaning."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import bilin
from bilin.errors import UserError
from tests.conftest import TINY_ARGS, run_bilin, start_bilin
from tests.redteam.harness import Case, run_case

SOURCE: dict[str, Path] = {}  # the one trained run every case copies (filled by the `trained` fixture)
HELD: list[int] = []  # lock files this test process holds while a case runs
RUN = "outputs/train/2026-01-01/10-00-00"
OTHER = "outputs/train/2026-01-01/11-00-00"
HOSTILE = '"><img src=x onerror=alert(1)>'
FOREIGN = {"notes.txt": "mine", "runs/mine.html": "<p>mine</p>", "sweeps/mine.csv": "a\n1\n", "explorer/x.html": "x"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_root) -> Path:
    cwd = tmp_path_factory.mktemp("trained")
    result = run_bilin(["train", *TINY_ARGS, "data=mnist"], cwd, {"BILIN_DATA": str(tiny_root)})
    assert result.returncode == 0, result.stderr[-2000:]
    return next(p.parent for p in (cwd / "outputs" / "train").glob("*/*/model.json"))


def copy_run(world: Path, rel: str = RUN, status: str | None = None) -> Path:
    run = world / rel
    shutil.copytree(SOURCE["run"], run, ignore=shutil.ignore_patterns(".lock"))
    if status is not None:
        record = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**record, "status": status}))
    return run


def report_first(world: Path, *args: str) -> None:
    """A report written before the case's command (the case then runs the next one)."""
    result = run_bilin(["report", *args], world, {"BILIN_DATA": SOURCE["data"]})
    assert result.returncode == 0, result.stderr[-2000:]


def edit_classes(run: Path, record_checksum: bool) -> None:
    spec = json.loads((run / "model.json").read_text())
    spec["classes"] = ["zero", *spec["classes"][1:]]
    text = json.dumps(spec, indent=2) + "\n"
    (run / "model.json").write_text(text)
    if record_checksum:
        sums = json.loads((run / "checksums.json").read_text())
        sums["model.json"] = hashlib.sha256(text.encode()).hexdigest()
        (run / "checksums.json").write_text(json.dumps(sums, indent=2))


def write_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


# -- setups -------------------------------------------------------------------------------------
def one_run(world: Path) -> None:
    copy_run(world)


def foreign_files_in_out(world: Path) -> None:
    copy_run(world)
    write_files(world / "site", FOREIGN)


def foreign_index_in_out(world: Path) -> None:
    copy_run(world)
    write_files(world / "site", {"index.html": "<p>my own page</p>"})


def run_gone_beside_foreign_page(world: Path) -> None:
    copy_run(world)
    copy_run(world, OTHER)
    report_first(world, "outputs", "--out", "site", "--no-explorers")
    shutil.rmtree(world / OTHER)
    write_files(world / "site", {"runs/mine.html": "<p>mine</p>"})


def planted_manifest(world: Path) -> None:
    run = copy_run(world)
    write_files(world, {"victim.txt": "keep me"})
    files = {
        "../victim.txt": hashlib.sha256(b"keep me").hexdigest(),
        f"../{RUN}/run.json": hashlib.sha256((run / "run.json").read_bytes()).hexdigest(),
    }
    write_files(world / "site", {"bilin-report.json": json.dumps({"format": "bilin-report/1", "files": files})})


def killed_run(world: Path) -> None:
    """What SIGKILL leaves: run.json says running, the lock file is there, no process holds it."""
    run = copy_run(world, status="running")
    (run / ".lock").touch()


def live_run(world: Path) -> None:
    run = copy_run(world, status="running")
    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    HELD.append(fd)


def colliding_names(world: Path) -> None:
    copy_run(world, "outputs/x__y/r1")
    copy_run(world, "outputs/x/y__r1")


def hostile_values(world: Path) -> None:
    run = copy_run(world, f"outputs/{HOSTILE}/r1")
    record = json.loads((run / "run.json").read_text())
    record.update(status="failed", error=HOSTILE, headline={HOSTILE: 1.0})
    (run / "run.json").write_text(json.dumps(record))
    shutil.copy(next((run / "figures").glob("*.json")), run / "figures" / f"{HOSTILE}.json")
    (run / f"{HOSTILE}.csv").write_text(f"{HOSTILE}\n{HOSTILE}\n")


def model_json_edited(record_checksum: bool):
    def setup(world: Path) -> None:
        run = copy_run(world)
        report_first(world, "outputs")
        edit_classes(run, record_checksum)

    return setup


def model_json_damaged(world: Path) -> None:
    edit_classes(copy_run(world), record_checksum=False)


# -- checks -------------------------------------------------------------------------------------
def foreign_files_survive(world: Path, result: subprocess.CompletedProcess) -> None:
    for name, text in FOREIGN.items():
        assert (world / "site" / name).read_text() == text, name
    manifest = json.loads((world / "site" / "bilin-report.json").read_text())["files"]
    assert not set(FOREIGN) & set(manifest) and "index.html" in manifest


def stale_page_removed_foreign_kept(world: Path, result: subprocess.CompletedProcess) -> None:
    pages = sorted(p.name for p in (world / "site" / "runs").glob("*.html"))
    assert pages == ["10-00-00.html", "mine.html"], pages


def victim_survives(world: Path, result: subprocess.CompletedProcess) -> None:
    assert (world / "victim.txt").read_text() == "keep me" and (world / RUN / "run.json").is_file()


def shown_died(world: Path, result: subprocess.CompletedProcess) -> None:
    assert "stopped watching" in result.stdout
    index = (world / "outputs" / "report" / "index.html").read_text()
    assert 'data-status="died"' in index and "last write" in index and 'data-status="running"' not in index


def shown_running(world: Path, result: subprocess.CompletedProcess) -> None:
    while HELD:
        os.close(HELD.pop())
    index = (world / "outputs" / "report" / "index.html").read_text()
    assert 'data-status="running"' in index and "died" not in index


def two_pages_each_its_own(world: Path, result: subprocess.CompletedProcess) -> None:
    pages = sorted((world / "outputs" / "report" / "runs").glob("*.html"))
    assert len(pages) == 2, pages
    shown = {p.name: p.read_text() for p in pages}
    for rel in ("x__y/r1", "x/y__r1"):
        assert sum(f">outputs/{rel}</a>" in text for text in shown.values()) == 1, rel


def values_escaped(world: Path, result: subprocess.CompletedProcess) -> None:
    report = world / "outputs" / "report"
    pages = [report / "index.html", *(report / "runs").glob("*.html")]
    assert len(pages) == 2
    for page in pages:
        text = page.read_text()
        assert "<img src=x" not in text and "Content-Security-Policy" in text, page
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[1].read_text()


def explorer_rebuilt(world: Path, result: subprocess.CompletedProcess) -> None:
    assert "(1 rebuilt)" in result.stdout, result.stdout
    (page,) = (world / "outputs" / "report" / "explorer").glob("*.html")
    assert '"classes":["zero","1"' in page.read_text()


def explorer_dropped(world: Path, result: subprocess.CompletedProcess) -> None:
    report = world / "outputs" / "report"
    assert not list((report / "explorer").glob("*.html"))
    assert "does not match the SHA-256" in (report / "index.html").read_text()


CASES = [
    Case("report-out-keeps-foreign-files", 1, ("report", "outputs", "--out", "site", "--no-explorers"),
         own=("site",), setup=foreign_files_in_out, check=foreign_files_survive),
    Case("report-out-refuses-to-overwrite-a-foreign-file", 1, ("report", "outputs", "--out", "site"),
         error="site/index.html exists and was not written by bilin report", setup=foreign_index_in_out),
    Case("report-removes-only-its-own-stale-page", 1, ("report", "outputs", "--out", "site", "--no-explorers"),
         own=("site",), setup=run_gone_beside_foreign_page, check=stale_page_removed_foreign_kept),
    Case("report-planted-manifest-deletes-nothing-outside", 1,
         ("report", "outputs", "--out", "site", "--no-explorers"),
         own=("site",), setup=planted_manifest, check=victim_survives),
    Case("report-out-inside-a-scanned-folder", 1, ("report", "outputs", "--out", "outputs/train/site"),
         error="is inside the scanned folder outputs", setup=one_run),
    Case("report-out-holds-the-scanned-folder", 1, ("report", "outputs/train", "--out", "outputs"),
         error="--out outputs holds the scanned folder outputs/train", setup=one_run),
    Case("report-out-is-the-scanned-folder", 1, ("report", "outputs", "--out", "{w}/outputs"),
         error="holds the scanned folder outputs", setup=one_run),
    *(
        Case(f"report-watch-{value}", 7, ("report", "outputs", "--watch", value),
             error=f"--watch {value}: give the seconds between rewrites, a finite number of at least 0.5",
             setup=one_run)
        for value in ("inf", "nan", "-1", "1e-9")
    ),
    Case("report-watch-not-a-number", 7, ("report", "outputs", "--watch", "soon"),
         error="--watch soon: not a number of seconds", setup=one_run),
    Case("report-killed-run-died-and-watch-stops", 4, ("report", "outputs", "--no-explorers", "--watch", "1"),
         own=("outputs/report",), setup=killed_run, check=shown_died),
    Case("report-live-run-stays-running", 4, ("report", "outputs", "--no-explorers"),
         own=("outputs/report",), setup=live_run, check=shown_running),
    Case("report-page-names-never-collide", 3, ("report", "outputs", "--no-explorers"),
         own=("outputs/report",), setup=colliding_names, check=two_pages_each_its_own),
    Case("report-hostile-values-escaped", 3, ("report", "outputs", "--no-explorers"),
         own=("outputs/report",), setup=hostile_values, check=values_escaped),
    Case("report-edited-model-json-rebuilds-explorer", 3, ("report", "outputs"),
         own=("outputs/report",), setup=model_json_edited(record_checksum=True), check=explorer_rebuilt),
    Case("report-damaged-model-json-drops-explorer", 3, ("report", "outputs"),
         own=("outputs/report",), setup=model_json_edited(record_checksum=False), check=explorer_dropped),
    Case("decompose-damaged-model-json", 3, ("decompose", f"run={RUN}", "d_hidden=16", "quiet=true", "device=cpu"),
         error="model.json does not match the SHA-256 recorded", own=("outputs/decompose",),
         setup=model_json_damaged),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_report_case(case: Case, trained: Path, tiny_root: Path, tmp_path: Path) -> None:
    SOURCE.update(run=trained, data=str(tiny_root))
    world = tmp_path / "world"
    world.mkdir()
    run_case(case, world, tiny_root)


# -- bilin.runs(), the Python API ----------------------------------------------------------------
def died_with_last_write(world: Path) -> None:
    table = bilin.runs(world / "outputs")
    (row,) = table.to_dict("records")
    assert row["status"] == "died" and row["last_write"].startswith("20")


API_CASES = [
    ("runs-missing-folder", lambda w: bilin.runs(w / "nowhere"), "nowhere does not exist"),
    ("runs-a-file", lambda w: bilin.runs(w / "victim.txt"), "victim.txt is not a folder"),
    ("runs-default-outputs-missing", lambda w: (os.chdir(w / "empty"), bilin.runs()), "outputs does not exist"),
    ("runs-killed-run-died", died_with_last_write, None),
]


@pytest.mark.slow
@pytest.mark.parametrize(("id", "call", "error"), API_CASES, ids=[c[0] for c in API_CASES])
def test_runs_api_case(id, call, error, trained: Path, tmp_path: Path, monkeypatch) -> None:
    SOURCE.update(run=trained)
    monkeypatch.chdir(tmp_path)
    killed_run(tmp_path)
    (tmp_path / "victim.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    if error is None:
        call(tmp_path)
        return
    with pytest.raises(UserError, match=error):
        call(tmp_path)


@pytest.mark.slow
def test_a_killed_train_is_shown_died_and_watch_stops(tmp_path: Path, tiny_root: Path) -> None:
    """A real SIGKILL mid-training: run.json still says running, nobody holds the lock."""
    import signal
    import time

    env = {"BILIN_DATA": str(tiny_root)}
    process = start_bilin(["train", *TINY_ARGS, "data=mnist", "epochs=10000", "hydra.run.dir=run"], tmp_path, env)
    record = tmp_path / "run" / "run.json"
    deadline = time.monotonic() + 120
    while not (record.is_file() and json.loads(record.read_text() or "{}").get("status") == "running"):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.2)
    assert bilin.runs(tmp_path)["status"].tolist() == ["running"]
    process.send_signal(signal.SIGKILL)
    process.wait()
    (row,) = bilin.runs(tmp_path).to_dict("records")
    assert row["status"] == "died" and row["last_write"]
    result = run_bilin(["report", ".", "--no-explorers", "--watch", "0.5"], tmp_path, env, timeout=60)
    assert result.returncode == 0 and "stopped watching" in result.stdout, result.stderr
