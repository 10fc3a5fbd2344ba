"""Conditions the run settings share: valid values and when a setting applies."""

from __future__ import annotations


def positive(value) -> bool:
    return value > 0


def unless(condition, reason):
    """An `applies` function (`urfbtf.settings.Setting.applies`): the setting
    applies unless condition(config), and then `reason(config)` says why not."""
    return lambda config: reason(config) if condition(config) else None


POSITIVE = dict(check=positive, valid="a positive integer")
