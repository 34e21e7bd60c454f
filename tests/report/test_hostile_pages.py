"""Pages built from hostile run folders run nothing of theirs: script in class names, folder names,
config keys and values, overrides, headline keys, figure and table names, error messages and the
command reaches the pages as text. Checked in a real browser (Debian's Chromium): no element has an
event handler, no payload ran (it would set window.__pwned and document.title), the CSP had nothing
to block (the escaping held on its own), and the payloads are shown as text."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_bilin
from tests.report.conftest import ok

pytestmark = pytest.mark.slow

SCRIPT = "window.__pwned=1;document.title='pwned'"
# a folder or file name cannot hold "/", so names carry only the payloads that need none
NAME = f'"\'><img src=x onerror="{SCRIPT}"><svg onload="{SCRIPT}">'
VALUE = f"</script><script>{SCRIPT}</script><!--<script>{SCRIPT}</script>{NAME}"
HANDLERS = "[onerror], [onload], [onclick], [onmouseover], img[src='x']"


def write_yaml(path: Path, value: object) -> None:
    path.write_text(yaml.safe_dump(value))


def make_hostile(run: Path, classes: bool) -> None:
    """Put the payloads in every value the report shows of `run`."""
    record = json.loads((run / "run.json").read_text())
    record.update(status="failed", error=VALUE, command=f"bilin {VALUE}", headline={VALUE: 0.5, NAME: 0.25})
    (run / "run.json").write_text(json.dumps(record))
    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    write_yaml(run / ".hydra" / "config.yaml", {**config, VALUE: VALUE})
    write_yaml(run / ".hydra" / "overrides.yaml", [VALUE, f"+{NAME}=1"])
    figures = run / "figures"
    if figures.is_dir():
        shutil.copy(next(figures.glob("*.json")), figures / f"{NAME}.json")
    (run / f"{NAME}.csv").write_text(f"{NAME},b\n{VALUE.replace(',', ' ')},1\n")
    if classes:
        spec = json.loads((run / "model.json").read_text())
        spec.update(classes=[VALUE, NAME, *spec["classes"][2:]], dataset="mnist")
        text = json.dumps(spec)
        (run / "model.json").write_text(text)
        sums = json.loads((run / "checksums.json").read_text())
        (run / "checksums.json").write_text(
            json.dumps({**sums, "model.json": hashlib.sha256(text.encode()).hexdigest()})
        )


@pytest.fixture(scope="module")
def hostile_report(report_tree, tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("hostile")
    run = cwd / "outputs" / "train" / NAME / NAME
    shutil.copytree(report_tree.single, run)
    make_hostile(run, classes=True)
    sweep = cwd / "outputs" / "multirun" / NAME / "sweep"
    shutil.copytree(report_tree.sweep_jobs[0].parent, sweep)
    for i, job in enumerate(sorted(p for p in sweep.iterdir() if (p / "run.json").is_file())):
        make_hostile(job, classes=False)
        config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        write_yaml(job / ".hydra" / "config.yaml", {**config, VALUE: f"{VALUE}{i}", NAME: i})
    ok(run_bilin(["report"], cwd, {"BILIN_DATA": str(report_tree.data)}))
    return cwd / "outputs" / "report"


def assert_nothing_ran(browser, page: Path) -> None:
    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.execute_script(f'return document.querySelectorAll("{HANDLERS}").length') == 0, page
    assert browser.execute_script("return window.__pwned") is None, page
    assert browser.title != "pwned", page
    logs = browser.get_log("browser")
    assert not [e for e in logs if e["level"] == "SEVERE"], (page, logs)  # a CSP block would be one


def test_the_payload_runs_in_a_page_that_does_not_escape_it(browser, tmp_path):
    """The control: the same payloads, written raw, do run; so the checks below can see them."""
    from selenium.webdriver.support.ui import WebDriverWait

    page = tmp_path / "raw.html"
    page.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body><p>{VALUE}</p></body></html>")
    browser.get(page.as_uri())
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return window.__pwned") == 1)
    assert browser.title == "pwned"
    browser.get_log("browser")


def test_no_page_runs_a_payload(browser, hostile_report):
    pages = [hostile_report / "index.html", *sorted(hostile_report.glob("*/*.html"))]
    kinds = {p.parent.name for p in pages[1:]}
    assert kinds == {"runs", "sweeps", "explorer"}, pages
    for page in pages:
        assert_nothing_ran(browser, page)


def test_payloads_are_shown_as_text(browser, hostile_report):
    (explorer,) = [p for p in (hostile_report / "explorer").glob("*.html") if "multirun" not in p.name]
    assert_nothing_ran(browser, explorer)
    buttons = browser.execute_script(
        "return Array.from(document.querySelectorAll('#classes button'), b => b.textContent)"
    )
    assert buttons[:2] == [VALUE, NAME]
    cells = browser.execute_script(
        "return Array.from(document.querySelectorAll('#logits-table tbody tr'), r => r.cells[0].textContent)"
    )
    assert cells[:2] == [VALUE, NAME]
    assert NAME in browser.execute_script("return document.getElementById('title').textContent")
    (page,) = [p for p in (hostile_report / "runs").glob("*.html") if "multirun" not in p.name]
    assert_nothing_ran(browser, page)
    text = browser.execute_script("return document.body.textContent")
    assert VALUE in text and f"{NAME}.csv" in text and "bilin </script>" in text
    sweep = next((hostile_report / "sweeps").glob("*.html"))
    assert_nothing_ran(browser, sweep)
    assert browser.execute_script("return document.querySelectorAll('.plot .main-svg').length") >= 2
