"""`python -m bilin`: the same command line as the `bilin` script."""

from bilin.cli import run

run()
