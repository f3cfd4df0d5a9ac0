"""Benchmark: reading real Telegram signal posts with ``tsbot.intake.posts.parse``, on one core.

The posts are the 9,148 unique posts of a real futures-signal channel (``telegram_signals/
sentinel_unique_messages.json`` of the shared dataset beside the project; the file is not bundled). About 15 % are
signals, 79 % follow-ups, the rest chat.

Figures, each the best of several rounds:

1. baseline: the least any reader must do - one pass of a price regex (``findall``) over every post, measured
   in the same run so the ratio does not depend on the machine;
2. ``parse``: the whole reading (clean-up, follow-up templates, sections, prices, symbol, side...).

Goal: at least 20,000 posts/s for (2).

Run: ``python bench/parse.py [--posts FILE] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tsbot.intake.posts import parse

GOAL_POSTS_PER_S = 20_000
DEFAULT_POSTS = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "telegram_signals"
    / "sentinel_unique_messages.json"
)
_PRICE = re.compile(r"\d+(?:\.\d+)?")

console = Console()


def _best(rounds: int, work) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=Path, default=DEFAULT_POSTS, help="JSON list of objects with 'text'")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.posts.is_file():
        console.print(
            f"[red]posts file not found: {args.posts}[/red] (the shared dataset is not on this machine)"
        )
        return 2
    texts = [str(item["text"]) for item in json.loads(args.posts.read_text(encoding="utf-8"))]

    def baseline() -> None:
        for text in texts:
            _PRICE.findall(text)

    def reading() -> None:
        for text in texts:
            parse(text)

    reading()  # warm the regex caches
    base_s = _best(args.rounds, baseline)
    parse_s = _best(args.rounds, reading)
    kinds = Counter(parse(text).kind.value for text in texts)

    rate = len(texts) / parse_s
    table = Table(title=f"Reading {len(texts):,} real signal-channel posts (best of {args.rounds}, one core)")
    table.add_column("work")
    table.add_column("seconds", justify="right")
    table.add_column("posts/s", justify="right")
    table.add_column("µs/post", justify="right")
    table.add_row(
        "baseline: one price-regex pass",
        f"{base_s:.3f}",
        f"{len(texts) / base_s:,.0f}",
        f"{base_s / len(texts) * 1e6:.1f}",
    )
    table.add_row("parse()", f"{parse_s:.3f}", f"{rate:,.0f}", f"{parse_s / len(texts) * 1e6:.1f}")
    console.print(table)
    console.print(f"kinds read: {dict(kinds)}")
    console.print(f"parse / baseline time ratio: {parse_s / base_s:.1f}x")
    verdict = "[green]meets[/green]" if rate >= GOAL_POSTS_PER_S else "[red]misses[/red]"
    console.print(f"{rate:,.0f} posts/s {verdict} the goal of {GOAL_POSTS_PER_S:,} posts/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
