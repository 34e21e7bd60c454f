"""A run's wall time by phase (bilin.running.timing): the phases are contiguous, so they add up to the
total; a nested phase hands the time back to the one it interrupted; a later run in the same process
(a sequential sweep) starts a clock of its own."""

from __future__ import annotations

import json
import time

import pytest

from bilin.running import timing
from tests.conftest import TINY_ARGS, only_run_dir


def test_phases_are_contiguous_and_add_up_to_the_total():
    clock = timing.Clock(time.perf_counter(), "setup")
    time.sleep(0.01)
    clock.switch("data")
    time.sleep(0.02)
    with clock.phase("evaluation"):
        time.sleep(0.01)
    time.sleep(0.01)  # data again
    times = clock.breakdown()
    assert list(times) == ["setup", "data", "evaluation", "total"]
    assert times["data"] >= 0.03 and times["evaluation"] >= 0.01
    assert sum(v for k, v in times.items() if k != "total") == pytest.approx(times["total"], abs=0.003)


def test_the_process_clock_goes_to_the_first_run_only(monkeypatch):
    monkeypatch.setattr(timing, "_process_clock", timing.Clock(time.perf_counter() - 0.5, timing.STARTUP))
    first = timing.run_clock("setup")  # the process's, begun at its start: it has counted the startup
    second = timing.run_clock("setup")
    assert timing.STARTUP in first.breakdown()
    assert timing.STARTUP not in second.breakdown()
    timing.mark("config")  # no process clock left: nothing happens


@pytest.mark.slow
def test_a_train_run_records_where_its_time_went(bilin_cli, tmp_path):
    done = bilin_cli("train", *TINY_ARGS)
    assert done.returncode == 0, done.stderr
    times = json.loads((only_run_dir(tmp_path / "outputs" / "train") / "run.json").read_text())["timing"]
    for phase in ("startup", "config", "imports", "setup", "data", "model", "training", "writes"):
        assert times[phase] > 0, phase
    assert times.get("evaluation", 0) < 0.01  # the last epoch's validation, reused: no phase under 0.5 ms
    assert sum(v for k, v in times.items() if k != "total") == pytest.approx(times["total"], abs=0.01)
    assert times["startup"] < times["total"]
