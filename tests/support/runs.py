"""What the tests that train through the runner share."""

# Keyword arguments of `urfbtf.runner.train.run` that keep a run silent.
QUIET = dict(verbose=0, log=lambda _: None)

# Runs on the shipped CIFAR-10 sample, small enough for a test (the untied runs
# and the filter figure drawn from one).
SAMPLE = dict(
    dataset="cifar10_sample",
    train_examples=200,
    val_examples=100,
    eval_batch_size=250,
    lr=0.05,
)


def parsed_settings() -> dict:
    """Every run setting as the runner holds it after `main.parse_flags`: the
    values the command line or its flagfiles gave, the defaults for the rest."""
    from urfbtf.runner import main

    return {name: holder.value for name, holder in main._SETTINGS.items()}
