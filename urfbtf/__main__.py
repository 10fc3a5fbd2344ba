"""`python -m urfbtf [FLAGS]`: the experiment runner, as the `urfbtf` command."""

from urfbtf.main import cli

cli()
