"""The command line: the Typer app that lists the commands, and Hydra behind every configured one
(composition, checks, sweeps, launchers)."""
