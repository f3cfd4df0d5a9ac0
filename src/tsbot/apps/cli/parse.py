"""``tsbot parse``: read signal posts from a file or stdin and write one JSON object per post.

Input, detected from the content:

- JSON lines: one object per line with ``text`` and optional ``id``;
- plain text: posts separated by lines of ``=====`` (five or more ``=``).

Output: one JSON line per post with the keys ``id, kind, signal, update, confidence`` (numbers in plain decimal
notation). A malformed input line is reported on stderr with its line number and written as
``{"id", "error"}`` so nothing is lost; the exit code is then 1.

``--eval labelled.jsonl`` grades the parser on hand-labelled posts instead: per-field accuracy, kind accuracy and
whole-post exact match (``tsbot.intake.evaluation``).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tsbot.apps.cli.common import console, err_console, settings_or_exit
from tsbot.intake.evaluation import evaluate
from tsbot.intake.models import dumps
from tsbot.intake.posts import parse as parse_post
from tsbot.wiring import build_post_parser

_SEPARATOR = re.compile(r"(?m)^[ \t]*={5,}[ \t]*$")


@dataclass(frozen=True)
class InputPost:
    """One post read from the input, or the reason its line could not be read."""

    post_id: str
    text: str | None
    error: str | None = None


def read_posts(raw: str) -> Iterator[InputPost]:
    """Posts from JSON lines or ``=====``-separated plain text (see the module docstring)."""
    stripped = raw.lstrip()
    if stripped.startswith("{"):
        yield from _json_lines(raw)
        return
    for number, chunk in enumerate(_SEPARATOR.split(raw), start=1):
        text = chunk.strip("\n")
        if text.strip():
            yield InputPost(str(number), text)


def _json_lines(raw: str) -> Iterator[InputPost]:
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield InputPost(f"line-{line_no}", None, f"line {line_no}: not JSON ({exc.msg})")
            continue
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            yield InputPost(
                f"line-{line_no}", None, f"line {line_no}: an object with a string 'text' is needed"
            )
            continue
        post_id = item.get("id")
        yield InputPost(str(post_id) if post_id is not None else f"line-{line_no}", item["text"])


def _read_input(path: Path | None) -> str:
    if path is None or str(path) == "-":
        return sys.stdin.read()
    if not path.is_file():
        err_console.print(f"[bold red]error:[/] no such file: {path}", highlight=False)
        raise typer.Exit(2)
    return path.read_text(encoding="utf-8", errors="replace")


def parse_command(
    source: Annotated[
        Path | None,
        typer.Argument(
            help="Posts file (JSON lines with 'text', or plain text split by '=====' lines); '-' or "
            "nothing reads stdin."
        ),
    ] = None,
    eval_file: Annotated[
        Path | None,
        typer.Option("--eval", help="Grade the parser on a labelled JSON-lines file instead."),
    ] = None,
    llm: Annotated[
        bool,
        typer.Option(
            "--llm/--no-llm",
            help="Ask the configured language model about posts the rules are unsure "
            "of (only when intake.llm.enabled).",
        ),
    ] = True,
    misses: Annotated[int, typer.Option(help="With --eval: list at most this many missed posts.")] = 20,
) -> None:
    """Read signal posts: one JSON object per post (id, kind, signal, update, confidence)."""
    if eval_file is not None:
        _evaluate(eval_file, misses)
        return
    settings = settings_or_exit()
    reader = build_post_parser(settings, use_llm=llm)
    raw = _read_input(source)
    errors = 0

    async def _run() -> None:
        nonlocal errors
        for post in read_posts(raw):
            if post.text is None:
                errors += 1
                err_console.print(f"[bold red]skipped:[/] {post.error}", highlight=False)
                sys.stdout.write(dumps({"id": post.post_id, "error": post.error}) + "\n")
                continue
            parsed = await reader.parse(post.text)
            sys.stdout.write(dumps(parsed.to_dict(post.post_id)) + "\n")

    asyncio.run(_run())
    sys.stdout.flush()
    if errors:
        raise typer.Exit(1)


def _evaluate(path: Path, misses: int) -> None:
    if not path.is_file():
        err_console.print(f"[bold red]error:[/] no such file: {path}", highlight=False)
        raise typer.Exit(2)
    rows: list[dict[str, Any]] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            err_console.print(
                f"[bold red]error:[/] {path} line {line_no}: not JSON ({exc.msg})", highlight=False
            )
            raise typer.Exit(2) from None
        if not isinstance(row, dict) or "text" not in row or "kind" not in row:
            err_console.print(
                f"[bold red]error:[/] {path} line {line_no}: 'text' and 'kind' are needed", highlight=False
            )
            raise typer.Exit(2)
        rows.append(row)
    result = evaluate(rows, parse_post)
    table = Table(title=f"Parser against {len(rows)} labelled posts ({path.name})")
    table.add_column("field")
    table.add_column("posts", justify="right")
    table.add_column("accuracy", justify="right")
    for name, share in result.field_accuracy.items():
        table.add_row(name, str(result.field_counts[name]), f"{share:.3f}")
    console.print(table)
    console.print(f"kind accuracy:            {result.kind_accuracy:.4f}", highlight=False)
    console.print(f"whole-post exact match:   {result.exact_match:.4f}", highlight=False)
    for grade in result.misses[:misses]:
        what = "kind" if not grade.kind_ok else ", ".join(grade.wrong_fields)
        console.print(f"  miss {grade.post_id}: {what}", highlight=False)
