"""``tsbot user create|list|set-role|deactivate|activate`` on a real database (SQLite file and PostgreSQL):
passwords from standard input or a hidden prompt, weak passwords and unknown users refused, the last admin kept,
and the audit log naming the operator."""

from __future__ import annotations

from collections.abc import Callable

from click.testing import Result
from tests.integration.cli.conftest import Invoke
from typer.testing import CliRunner

from tsbot.accounts.models import OPERATOR, Role
from tsbot.accounts.records import AuditAction
from tsbot.apps.cli.main import app
from tsbot.wiring import Services

PASSWORD = "Correct-horse-42"


def _with_stdin(cli_env: dict[str, str], args: list[str], stdin: str) -> Result:
    return CliRunner().invoke(app, args, env=cli_env, input=stdin)


def test_create_list_and_change_users(
    tsbot: Invoke, cli_env: dict[str, str], with_services: Callable[..., object]
) -> None:
    made = _with_stdin(
        cli_env,
        ["user", "create", "Boss@Example.com", "--role", "admin", "--password-stdin"],
        PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    assert "created boss@example.com (admin)" in made.stdout
    prompted = _with_stdin(
        cli_env, ["user", "create", "ann@example.com", "--name", "Ann"], f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.stdout  # the prompt hides what is typed
    listed = tsbot("user", "list")
    assert listed.exit_code == 0
    lines = [line for line in listed.stdout.splitlines() if "@example.com" in line]
    assert len(lines) == 2 and "admin" in lines[0] and "viewer" in lines[1] and "Ann" in lines[1]
    assert "ann@example.com is now trader" in tsbot("user", "set-role", "ANN@example.com", "trader").stdout
    assert "deactivated" in tsbot("user", "deactivate", "ann@example.com").stdout
    inactive = tsbot("user", "list", "--inactive")
    assert "ann@example.com" in inactive.stdout and "boss@example.com" not in inactive.stdout
    assert "active" in tsbot("user", "activate", "ann@example.com").stdout

    async def _check(services: Services) -> None:
        accounts = services.accounts()
        ann = await accounts.find_user(OPERATOR, "ann@example.com")
        assert ann.role is Role.TRADER and ann.is_active and ann.email_verified
        assert await accounts.login("ann@example.com", PASSWORD)
        entries = await accounts.audit_log(OPERATOR, user_id=ann.id)
        assert {e.action for e in entries} >= {AuditAction.USER_CREATED, AuditAction.ROLE_CHANGED}
        assert all(e.actor == "operator" for e in entries if e.action is not AuditAction.LOGIN)

    with_services(_check)


def test_bad_input_is_refused_with_a_clear_message(tsbot: Invoke, cli_env: dict[str, str]) -> None:
    weak = _with_stdin(cli_env, ["user", "create", "a@example.com", "--password-stdin"], "short\n")
    assert weak.exit_code == 1 and "password too short" in weak.stderr  # bad input: weak password
    bad_email = _with_stdin(cli_env, ["user", "create", "not-an-email", "--password-stdin"], PASSWORD + "\n")
    assert bad_email.exit_code == 1 and "not a valid email" in bad_email.stderr  # bad input: malformed email
    empty = _with_stdin(cli_env, ["user", "create", "a@example.com", "--password-stdin"], "")
    assert empty.exit_code == 1 and "no password" in empty.stderr  # bad input: nothing on standard input
    unknown = tsbot("user", "set-role", "nobody@example.com", "admin")
    assert unknown.exit_code == 1 and "no user with email nobody@example.com" in unknown.stderr
    bad_role = tsbot("user", "set-role", "nobody@example.com", "emperor")  # bad input: unknown role
    assert bad_role.exit_code == 2
    _with_stdin(
        cli_env, ["user", "create", "boss@example.com", "--role", "admin", "--password-stdin"], PASSWORD
    )
    last = tsbot("user", "deactivate", "boss@example.com")
    assert last.exit_code == 1 and "no active admin" in last.stderr
    assert "no users" not in tsbot("user", "list").stdout
