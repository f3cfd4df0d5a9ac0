"""The ``tsbot`` group imports a command's module only when that command runs: ``tsbot --help`` lists every command
by its summary without importing any, and the summaries say what the commands' own help says."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tsbot.apps.cli.main import COMMANDS, app, load_command


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_summary_is_the_first_paragraph_of_the_commands_help(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    first = inspect.cleandoc(command.help or "").split("\n\n")[0]
    assert COMMANDS[name].summary == " ".join(first.split())


def test_help_lists_every_command_in_order_without_importing_them() -> None:
    probe = (
        "import sys\n"
        "from tsbot.apps.cli.main import app\n"
        "try:\n"
        "    app(['--help'], prog_name='tsbot')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('tsbot.wiring', 'sqlalchemy', 'pandas', 'tsbot.apps.cli.scan', 'tsbot.apps.cli.sentiment')\n"
        "print('imported:', [m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert "imported: []" in done.stdout
    listed = [
        line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ ") and "│" in line[2:]
    ]
    assert listed[-len(COMMANDS) - 1 :] == [*COMMANDS, "db"]
    assert "Sentiment models: classify texts" in done.stdout


def test_a_mistyped_command_is_refused_with_a_suggestion() -> None:
    # bad input tried: "sentimnet" (a typo of a command not imported yet) and "nope"
    typo = CliRunner().invoke(app, ["sentimnet", "classify"])
    assert typo.exit_code == 2 and "No such command 'sentimnet'. Did you mean 'sentiment'?" in typo.output
    unknown = CliRunner().invoke(app, ["nope"])
    assert unknown.exit_code == 2 and "No such command 'nope'." in unknown.output


def test_a_lazy_group_runs_its_subcommand() -> None:
    done = CliRunner().invoke(app, ["sentiment", "classify"], input="Shares soar on record profit\n")
    assert done.exit_code == 0, done.output
    assert '"label": "positive"' in done.output
