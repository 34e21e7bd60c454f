"""Turn SIGINT / SIGTERM into a polite stop request: finish nothing new, save, mark interrupted."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from bilin.train.loop import StopRequest

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """First signal sets the request; a second SIGINT aborts at once (KeyboardInterrupt)."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be installed from the main thread
        return

    def handler(signum, _frame):
        if stop.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.reason = signal.Signals(signum).name

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
