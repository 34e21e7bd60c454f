"""Running a command: the Command record and the CommandResult it returns, the one writer
of files (RunDir), provenance, liveness, figure pages, and the lifecycle that runs a command."""
