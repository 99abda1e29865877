"""Help texts: every command has a description, every option of evaluate a help text, and
nothing shows reStructuredText markup."""

from __future__ import annotations

import argparse

import pytest

from genpolicy.cli import build_parser
from genpolicy.training.shipped import builtin_names


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", ["bench", "demo", "maze-plot", "train", "evaluate"])
def test_commands_have_a_description(name: str) -> None:
    assert _commands()[name].description


def test_loglik_help_is_plain_text() -> None:
    assert "``" not in _commands()["loglik-error"].format_help()


def test_every_evaluate_option_has_help() -> None:
    options = [a for a in _commands()["evaluate"]._actions if a.option_strings]
    assert all(a.help for a in options), [a.dest for a in options if not a.help]


def test_train_help_lists_every_built_in_config() -> None:
    text = " ".join(_commands()["train"].format_help().split())
    assert all(name in text.replace("- ", "-") for name in builtin_names())
