"""One task function per analysis subcommand: cfg -> cache/data -> model -> analysis -> figures -> run folder."""
