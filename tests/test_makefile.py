"""`make setup` gets a browser for PNG/SVG figures when it can, and says how when it cannot.

The chromium target runs with a PATH of fake commands (id, apt-get, chromium), so nothing is
installed and no network is used."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

MAKE = shutil.which("make") or "make"  # the README's test command is `make test`: make is always there


def fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/bash\n{script}\n")
    path.chmod(0o755)


def make_chromium(
    tmp_path: Path, uid: int, apt_ok: bool = True, browser: str | None = None, shell_in_archive: bool = True
) -> tuple[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "apt-calls"
    fake(bin_dir, "id", f"echo {uid}")
    no_shell = 'case "$*" in *headless-shell*) exit 100;; esac; ' if not shell_in_archive else ""
    fake(bin_dir, "apt-get", f'echo "$*" >> {calls}; {no_shell}exit {0 if apt_ok else 1}')
    if browser:
        fake(bin_dir, browser, "exit 0")
    result = subprocess.run(
        [MAKE, "-s", "-C", str(REPO), "chromium"], env={"PATH": str(bin_dir)}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, calls.read_text() if calls.exists() else ""


def test_as_root_with_apt_it_installs_debians_headless_shell(tmp_path):
    out, calls = make_chromium(tmp_path, uid=0)
    assert out.splitlines() == [
        "setup: installing Debian's chromium-headless-shell (kaleido needs a browser for PNG/SVG figures)"
    ]
    assert calls.splitlines() == ["update -qq", "install -y -qq chromium-headless-shell"]


def test_without_the_shell_in_the_archive_it_installs_chromium(tmp_path):
    out, calls = make_chromium(tmp_path, uid=0, shell_in_archive=False)
    assert len(out.splitlines()) == 1
    assert calls.splitlines() == ["update -qq", "install -y -qq chromium-headless-shell", "install -y -qq chromium"]


def test_without_root_it_says_how_in_one_line(tmp_path):
    out, calls = make_chromium(tmp_path, uid=1000)
    assert len(out.splitlines()) == 1 and "sudo apt-get install -y chromium-headless-shell" in out
    assert calls == ""


def test_a_failed_install_is_one_line_and_does_not_stop_setup(tmp_path):
    out, _ = make_chromium(tmp_path, uid=0, apt_ok=False)
    assert out.splitlines()[-1].startswith("setup: chromium could not be installed")


@pytest.mark.parametrize("browser", ["chromium-headless-shell", "chromium", "google-chrome"])
def test_nothing_to_do_when_a_browser_is_there(tmp_path, browser):
    assert make_chromium(tmp_path, uid=0, browser=browser) == ("", "")


def test_setup_runs_the_browser_step():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^setup: .*\bchromium\b", makefile, re.M)
