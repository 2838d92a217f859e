"""`python -m nas.cli`: the same as the `hwnas` command."""
from nas.cli import app

app()
