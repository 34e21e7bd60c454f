"""A small real outputs/ tree made through the CLI: one train run, a two-job seed sweep and a damaged
run; then `bilin report` over it."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_bilin

D_HIDDEN = 48  # above the explorer's 32 kept components, so "top 32" and "all d" differ
RUN_ARGS = [f"d_hidden={D_HIDDEN}", "epochs=2", "batch_size=64", "quiet=true", "device=cpu", "data=mnist"]


@dataclass
class ReportTree:
    cwd: Path
    outputs: Path
    report: Path
    single: Path  # the one train run
    sweep_jobs: list[Path]
    data: Path
    result: subprocess.CompletedProcess


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="session")
def report_tree(tmp_path_factory, tiny_root) -> ReportTree:
    cwd = tmp_path_factory.mktemp("report")
    env = {"BILIN_DATA": str(tiny_root)}
    ok(run_bilin(["train", *RUN_ARGS], cwd, env))
    ok(run_bilin(["train", "-m", "seed=1,2", *RUN_ARGS], cwd, env))
    outputs = cwd / "outputs"
    single = sorted(p.parent for p in (outputs / "train").glob("*/*/model.json"))[0]
    damaged = single.parent / "damaged"
    shutil.copytree(single, damaged)
    (damaged / "run.json").write_text("{ not json")
    (damaged / "model.json").unlink()  # so it is a run with a broken record, not a second model
    jobs = sorted(p for p in (outputs / "multirun" / "train").glob("*/*/[0-9]*") if p.is_dir())
    result = ok(run_bilin(["report"], cwd, env))
    return ReportTree(cwd, outputs, outputs / "report", single, jobs, tiny_root, result)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Selenium through Debian's chromedriver (no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM and DRIVER):
        pytest.fail("browser tests need Debian's chromium and chromium-driver: make chromium (or apt-get install)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1500,1100"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())
