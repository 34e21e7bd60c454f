"""SIGINT and SIGTERM during a run: an `Interrupted` raised where the work is, or only a flag while the
work polls for it (training stops cleanly between steps); and the Interrupted behind an exception that
wrapped it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bilin.errors import Interrupted


@contextmanager
def signals_stop(stop: Any, polling: Callable[[], bool], unfinished: str) -> Iterator[None]:
    """Inside, the first SIGINT/SIGTERM sets `stop.reason` and `stop.message` ("stopped by SIGINT;
    <unfinished>"), then raises Interrupted unless `polling()` (the work checks the flag itself); a
    second one raises in any case. `stop`: a bilin.train.records.StopRequest."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread (e.g. joblib workers)
        return

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        first = stop.reason is None
        if first:  # kept even when the raise below is lost, so the next `stop.raise_if_set()` stops the work
            stop.reason = name
            stop.message = f"stopped by {name}; {unfinished}"
        if polling() and first:
            return
        # An exception raised inside an import can be turned into an ImportError and dropped (torch
        # imports triton that way), hence the flag above as well.
        raise Interrupted(stop.message or name, name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interruption(exc: BaseException) -> Interrupted | None:
    """The Interrupted a signal raised, when `exc` is another exception caused by it (a raise inside an
    import comes back as a RuntimeError or ImportError whose cause or context is the Interrupted)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Interrupted):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
