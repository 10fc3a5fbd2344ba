"""`python -m urfbtf [FLAGS]`: the experiment runner, as the `urfbtf` command."""

from urfbtf.runner.main import cli

cli()
