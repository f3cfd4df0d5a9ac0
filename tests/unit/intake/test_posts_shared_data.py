"""The post parser over the shared real posts: the grade on the hand-labelled development set, and every post of
both channels read without error into a consistent reading whose numbers all come from the post.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.shared_data import require_shared_data

from tsbot.intake.evaluation import evaluate
from tsbot.intake.models import ParsedPost, PostKind, Side, TradeIntent
from tsbot.intake.posts import parse

pytestmark = pytest.mark.shared_data

SENTINEL_POSTS = 9148

# A number as a post writes it: thousands commas allowed, an optional K multiplier ("~52K").
_WRITTEN_NUMBER = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)([kK])?")
# The documented exception: a target index glued to its price ("TP41.3100" is target 4 at 1.31).
_GLUED_INDEX = re.compile(r"(?i)(?:tp|target)\s*\d(\d+\.\d+)")


def _folder() -> Path:
    return require_shared_data() / "telegram_signals"


def written_numbers(text: str) -> set[Decimal]:
    """Every number the text writes, by value: commas removed, ``52K`` also as 52000, glued target indexes split."""
    found: set[Decimal] = set()
    for match in _WRITTEN_NUMBER.finditer(text):
        value = Decimal(match.group(1).replace(",", ""))
        found.add(value)
        if match.group(2):
            found.add(value * 1000)
    found.update(Decimal(m.group(1)) for m in _GLUED_INDEX.finditer(text))
    return found


def check_reading(text: str, parsed: ParsedPost) -> list[str]:
    """What is wrong with one reading (empty when nothing): consistency, symbol, confidence, numbers' origin."""
    problems: list[str] = []
    if (parsed.signal is not None) != (parsed.kind is PostKind.SIGNAL):
        problems.append("signal set but kind is not signal (or the reverse)")
    if (parsed.update is not None) != (parsed.kind is PostKind.UPDATE):
        problems.append("update set but kind is not update (or the reverse)")
    if not 0.0 <= parsed.confidence <= 1.0:
        problems.append(f"confidence {parsed.confidence}")
    if parsed.signal is not None:
        signal = parsed.signal
        if not signal.symbol.strip():
            problems.append("empty symbol")
        numbers = written_numbers(text)
        values = [
            *signal.entry,
            *signal.targets,
            *(v for v in (signal.stop, signal.leverage) if v is not None),
        ]
        problems.extend(f"{value} is not in the post" for value in values if value not in numbers)
    return problems


def read_all(posts: list[dict[str, Any]], source: str) -> dict[str, int]:
    kinds = {kind.value: 0 for kind in PostKind}
    failures: list[str] = []
    for i, post in enumerate(posts):
        text = post["text"]
        try:
            parsed = parse(text)
        except Exception as exc:  # noqa: BLE001 - any exception on a real post is the failure being counted
            failures.append(f"{source}[{i}]: {type(exc).__name__}: {exc}")
            continue
        kinds[parsed.kind.value] += 1
        failures.extend(
            f"{source}[{i}]: {problem} ({text[:80]!r})" for problem in check_reading(text, parsed)
        )
    assert not failures, "\n".join(failures[:30])
    return kinds


def test_development_set_grade() -> None:
    path = _folder() / "labeled_dev.jsonl"
    rows = [
        json.loads(line, parse_float=Decimal)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    result = evaluate(rows, parse)
    print(
        f"development set: {result.posts} posts, kind accuracy {result.kind_accuracy:.4f}, "
        f"exact match {result.exact_match:.4f}"
    )
    for name, share in result.field_accuracy.items():
        print(f"  {name}: {share:.4f}")
    for miss in result.misses:
        print(f"  miss {miss.post_id}: kind {'ok' if miss.kind_ok else 'WRONG'} {miss.wrong_fields}")
    assert result.posts == 299
    assert result.kind_accuracy >= 0.99
    assert result.exact_match >= 0.97


def test_every_sentinel_post_reads_consistently() -> None:
    posts = json.loads((_folder() / "sentinel_unique_messages.json").read_text(encoding="utf-8"))
    assert len(posts) == SENTINEL_POSTS
    kinds = read_all(posts, "sentinel")
    print(f"sentinel kinds: {kinds}")
    # The channel is mostly follow-ups; a parser that calls everything "other" must not pass.
    assert kinds["update"] > kinds["signal"] > kinds["other"] > 0


def test_every_cryptobotcz_post_reads_consistently() -> None:
    posts = json.loads((_folder() / "cryptobotcz_messages.json").read_text(encoding="utf-8"))
    assert posts
    kinds = read_all(posts, "cryptobotcz")
    print(f"cryptobotcz kinds: {kinds}")
    assert kinds["signal"] > 0


def test_number_check_catches_an_invented_number() -> None:
    # The origin check above must be able to fail: a price the post never writes is reported.
    text = "#ABC/USDT LONG Entry 1.5 Targets 1.6 SL 1.4"
    forged = ParsedPost(PostKind.SIGNAL, signal=TradeIntent("ABC/USDT", Side.LONG, (Decimal("1.55"),)))
    assert check_reading(text, forged) == ["1.55 is not in the post"]
    assert (
        check_reading(
            "BTC ~52K", ParsedPost(PostKind.SIGNAL, signal=TradeIntent("BTC", Side.SHORT, (Decimal(52000),)))
        )
        == []
    )
