"""The CLI's layout: each command lives in the module named after it (ferviz/cli/NAME.py), so a
reader finds `ferviz NAME` in one place; a group's sub-commands live beside it."""

from __future__ import annotations

import click

from ferviz.cli import main


def test_every_command_lives_in_the_module_named_after_it():
    for name, command in main.commands.items():
        module = f"ferviz.cli.{name}"
        assert command.callback.__module__ == module, f"`ferviz {name}` is defined in {command.callback.__module__}"
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                assert sub.callback.__module__ == module, f"`ferviz {name} {sub_name}` is not in {module}"
