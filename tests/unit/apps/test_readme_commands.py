"""Every ``tsbot`` command line the README shows is one the command accepts: each command and subcommand exists,
and each option and argument parses and converts (nothing is run). ``tests/e2e/test_backtest_cli.py`` runs the
README's ``sma_cross`` backtest on the bundled candles."""

from __future__ import annotations

import shlex

import pytest
import typer
import typer.main
from tests.support.readme import README, readme_command_lines
from typer.core import TyperGroup

from tsbot.apps.cli.main import app, expand_multi_value


def parse(args: list[str]) -> list[str]:
    """Parse ``tsbot ARGS`` down to its leaf command without running it; the names of the commands on the way.

    Raises:
        typer.TyperException: an unknown command or option, a missing argument, or a value of the wrong type
            (``typer.BadParameter``).
    """
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="tsbot")
    names, rest = ["tsbot"], expand_multi_value(args)
    while isinstance(command, TyperGroup):  # the README puts no group option before a subcommand
        name, sub, rest = command.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        names.append(name)
        command = sub
        if isinstance(command, TyperGroup):
            ctx = typer.Context(command, info_name=name, parent=ctx)
    command.make_context(names[-1], rest, parent=ctx)  # parses and converts every option and argument
    return names


def test_the_readme_shows_the_main_commands() -> None:
    # the lines are found at all: the test below, one case per line, would pass on none
    shown = {" ".join(line.split()[:2]) for line in readme_command_lines(README.read_text())}
    assert {
        "scan",
        "backtest --strategy",
        "lookahead",
        "optimize --strategy",
        "bot pause",
        "bot stop",
    } <= shown


@pytest.mark.parametrize("line", readme_command_lines(README.read_text()))
def test_each_readme_command_parses(line: str) -> None:
    names = parse(shlex.split(line))
    assert names[0] == "tsbot" and len(names) >= 2


def test_a_wrong_option_in_a_readme_line_would_be_caught() -> None:
    # bad input tried: an option that does not exist, a value of the wrong type, a subcommand that does not exist
    with pytest.raises(typer.TyperException, match="No such option"):
        parse(["backtest", "--strategy", "sma_cross", "--speed", "2"])
    with pytest.raises(typer.BadParameter, match="valid integer"):
        parse(["lookahead", "--samples", "many"])
    with pytest.raises(typer.TyperException, match="No such command"):
        parse(["bot", "restart", "swinger"])


def test_alternatives_and_chains_give_one_line_each() -> None:
    text = "```bash\n.venv/bin/tsbot a x|y z   # note\n.venv/bin/tsbot b && .venv/bin/tsbot c < in.txt\nls\n```\n"
    assert readme_command_lines(text) == ["a x z", "a y z", "b", "c"]
