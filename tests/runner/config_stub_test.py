"""The typed stub of the runner's Config (urfbtf/runner/config.pyi) declares
exactly the fields the declared settings make, so type checkers and editors see
what runs."""

import dataclasses

import pytest

from tests.support import local_rule
from urfbtf import rules
from urfbtf.runner import config_stub
from urfbtf.runner.config import Config, declared_settings


@pytest.fixture(autouse=True)
def _only_urfbtfs_own_rules(monkeypatch):
    """The settings of urfbtf's own rules and the runner's are Config's fields; a
    rule registered later keeps its settings in `Config.added_settings`
    (urfbtf.runner.config). The tests' local rule is registered for the rest of
    the session once tests/rules/ has run, so it is set aside here."""
    monkeypatch.delitem(rules.RULES, local_rule.NAME, raising=False)


def test_the_checked_in_stub_is_the_one_the_settings_make():
    assert config_stub.STUB.read_text() == config_stub.render(), (
        "urfbtf/runner/config.pyi is out of date: run "
        "`python -m urfbtf.runner.config_stub`"
    )


def test_every_declared_setting_is_a_typed_field_with_its_default():
    fields = {f.name: f for f in dataclasses.fields(Config)}
    for name, setting in declared_settings().items():
        assert fields[name].default == setting.default, name
        expected = setting.type | None if setting.optional else setting.type
        assert fields[name].type == expected, name
    assert Config().lr == declared_settings()["lr"].default
