"""The command line: the Typer app that lists the commands, and Hydra behind every configured one
(composition, checks, sweeps, launchers)."""


def run() -> None:
    """The `bilin` script: the collector paused while the command starts (bilin.running.startup_gc)
    and OpenMP's idle spinning limited before torch loads (bilin.running.omp_spin), then the app
    (bilin.cli.app.run)."""
    from bilin.running import omp_spin, startup_gc

    startup_gc.pause()
    omp_spin.limit_spinning()
    from bilin.cli.app import run as run_app

    run_app()
