"""The one exception type that means "the user asked for something we cannot do".

Anything raised as `UserError` reaches the terminal as a single line and exit code 2;
every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A bad input or an environment problem the user can fix; the message says how."""


class Interrupted(BaseException):
    """A signal stopped the command; the message is the line the user sees.

    A BaseException, like KeyboardInterrupt, so that library code catching Exception cannot swallow it.
    """

    def __init__(self, message: str, signal_name: str):
        super().__init__(message)
        self.signal_name = signal_name


def exit_with(error: BaseException, code: int = EXIT_USER_ERROR) -> None:
    message = " ".join(str(error).split())  # always one line
    print(f"bilin: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)
