"""``tsbot user create|list|set-role|deactivate|activate``: user accounts from the machine's command line.

The command line acts as the operator (:data:`~tsbot.accounts.models.OPERATOR`): it may do every administration
action, and the audit log records it as ``operator``. A user created here counts as having confirmed their email.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Annotated, TypeVar

import typer
from rich import box
from rich.table import Table

from tsbot.accounts.models import OPERATOR, Role, User
from tsbot.accounts.service import AccountService
from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.wiring import open_services

T = TypeVar("T")

user_app = typer.Typer(help="User accounts: create, list, change roles, deactivate.", no_args_is_help=True)

RoleArg = Annotated[Role, typer.Argument(help="admin, trader, viewer or api_user", case_sensitive=False)]


def _with_accounts(action: Callable[[AccountService], Awaitable[T]]) -> T:
    """Run ``action`` on the account service of the configured database."""
    settings = settings_or_exit()

    async def _go() -> T:
        async with open_services(settings) as services:
            return await action(services.accounts())

    return run(_go())


def _read_password(from_stdin: bool) -> str:
    """The new user's password: the first line of standard input, or typed twice at a hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            err_console.print("[bold red]error:[/] no password on standard input", highlight=False)
            raise typer.Exit(1)
        return line.rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _when(user: User) -> str:
    return "-" if user.active_until is None else f"{user.active_until.astimezone(UTC):%Y-%m-%d %H:%M}"


@user_app.command("create")
def create_command(
    email: Annotated[str, typer.Argument(help="the user's email address (sign-in name)")],
    role: Annotated[
        Role, typer.Option(help="admin, trader, viewer or api_user", case_sensitive=False)
    ] = Role.VIEWER,
    name: Annotated[str | None, typer.Option(help="display name (default: the part before @)")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of standard input")
    ] = False,
) -> None:
    """Create a user with a password (asked at a hidden prompt unless --password-stdin)."""
    password = _read_password(password_stdin)
    user = _with_accounts(
        lambda accounts: accounts.create_user(OPERATOR, email, password, role, display_name=name)
    )
    console.print(f"created {user.email} ({user.role.value}), id {user.id}", highlight=False)


@user_app.command("list")
def list_command(
    role: Annotated[Role | None, typer.Option(help="only users of this role", case_sensitive=False)] = None,
    inactive: Annotated[bool, typer.Option("--inactive", help="only deactivated users")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 200,
) -> None:
    """List users, oldest first."""
    users = _with_accounts(
        lambda accounts: accounts.list_users(
            OPERATOR, role=role, active=False if inactive else None, limit=limit
        )
    )
    if not users:
        console.print("no users", highlight=False)
        return
    table = Table(box=box.SIMPLE)
    for column in (
        "email",
        "name",
        "role",
        "active",
        "verified",
        "2FA",
        "active until (UTC)",
        "created (UTC)",
    ):
        table.add_column(column)
    for user in users:
        table.add_row(
            user.email,
            user.display_name,
            user.role.value,
            "yes" if user.is_active else "no",
            "yes" if user.email_verified else "no",
            "on" if user.totp_enabled else "off",
            _when(user),
            f"{user.created_at.astimezone(UTC):%Y-%m-%d %H:%M}",
        )
    console.print(table, highlight=False, markup=False)


@user_app.command("set-role")
def set_role_command(
    email: Annotated[str, typer.Argument(help="the user's email address")], role: RoleArg
) -> None:
    """Give a user another role (it applies to their next request)."""

    async def _go(accounts: AccountService) -> User:
        user = await accounts.find_user(OPERATOR, email)
        return await accounts.set_role(OPERATOR, user.id, role)

    user = _with_accounts(_go)
    console.print(f"{user.email} is now {user.role.value}", highlight=False)


@user_app.command("deactivate")
def deactivate_command(email: Annotated[str, typer.Argument(help="the user's email address")]) -> None:
    """Deactivate a user: sign-in refused, sessions ended, tokens and API keys stop working."""

    async def _go(accounts: AccountService) -> User:
        user = await accounts.find_user(OPERATOR, email)
        return await accounts.deactivate(OPERATOR, user.id)

    user = _with_accounts(_go)
    console.print(f"{user.email} deactivated", highlight=False)


@user_app.command("activate")
def activate_command(
    email: Annotated[str, typer.Argument(help="the user's email address")],
    days: Annotated[
        int | None, typer.Option(min=1, max=36_500, help="also extend the activation by this many days")
    ] = None,
) -> None:
    """Activate a deactivated user (and extend an activation that has an end date)."""

    async def _go(accounts: AccountService) -> User:
        user = await accounts.find_user(OPERATOR, email)
        user = await accounts.set_active(OPERATOR, user.id, True)
        if days is not None:
            user = await accounts.extend_activation(OPERATOR, user.id, days)
        return user

    user = _with_accounts(_go)
    console.print(f"{user.email} active (until: {_when(user)})", highlight=False)
