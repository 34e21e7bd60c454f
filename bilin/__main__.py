from bilin.cli import app

app(prog_name="bilin")
