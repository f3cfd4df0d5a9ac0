"""Helpers shared by CLI commands: settings, running coroutines, turning tsbot errors into clear exits."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from tsbot.config import Settings, load_settings
from tsbot.core.errors import OperationalError, TemporaryError, TsbotError

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def settings_or_exit() -> Settings:
    """Load settings; on a configuration error print it and exit with code 2."""
    try:
        return load_settings()
    except TsbotError as exc:
        err_console.print(f"[bold red]configuration error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; a tsbot error becomes a one-line message and exit code 1 (operational) or 3 (temporary)."""
    try:
        return asyncio.run(coro)
    except OperationalError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except TemporaryError as exc:
        err_console.print(f"[bold yellow]temporary failure, try again:[/] {exc}", highlight=False)
        raise typer.Exit(3) from None
