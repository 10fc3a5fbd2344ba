"""What the tests that train through the runner share."""

# Keyword arguments of `urfbtf.runner.train.run` that keep a run silent.
QUIET = dict(verbose=0, log=lambda _: None)


def parsed_settings() -> dict:
    """Every run setting as the runner holds it after `main.parse_flags`: the
    values the command line or its flagfiles gave, the defaults for the rest."""
    from urfbtf.runner import main

    return {name: holder.value for name, holder in main._SETTINGS.items()}
