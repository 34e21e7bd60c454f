"""`python -m bilin`: the same command line as the `bilin` script."""

from bilin.cli.app import run

run()
