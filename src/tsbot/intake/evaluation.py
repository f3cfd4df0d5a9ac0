"""Grading the post parser against hand-labelled posts.

A labelled post is a JSON object with ``text``, ``kind`` and ``signal`` / ``update`` in the shapes of
:meth:`TradeIntent.to_dict` / :meth:`SignalUpdate.to_dict`. Numbers are compared by value (``20`` equals ``20.0``;
``0.00250`` equals ``0.0025``), lists element by element in order.

Figures reported by :func:`evaluate`:

- ``kind_accuracy``: share of posts whose kind is right;
- per field (``signal.entry``, ``update.event``...): over the posts whose *labelled* kind has that field and whose
  kind was read right, the share with the field right;
- ``exact_match``: share of posts whose kind and every field are right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tsbot.intake.models import ParsedPost

SIGNAL_FIELDS = (
    "symbol",
    "side",
    "entry",
    "entry_kind",
    "targets",
    "stop",
    "leverage",
    "margin",
    "exchanges",
)
UPDATE_FIELDS = ("symbol", "event", "target_index", "price", "profit_pct", "period")


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, list) or isinstance(actual, list | tuple):
        if (
            not isinstance(expected, list)
            or not isinstance(actual, list | tuple)
            or len(expected) != len(actual)
        ):
            return False
        return all(_same(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, int | float | Decimal) and not isinstance(expected, bool):
        if not isinstance(actual, int | float | Decimal) or isinstance(actual, bool):
            return False
        return Decimal(repr(expected) if isinstance(expected, float) else str(expected)) == Decimal(
            repr(actual) if isinstance(actual, float) else str(actual)
        )
    return bool(expected == actual)


@dataclass
class PostGrade:
    """How one post was read against its label."""

    post_id: str
    kind_ok: bool
    wrong_fields: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.kind_ok and not self.wrong_fields


@dataclass
class Evaluation:
    """Totals of :func:`evaluate` (shares in [0, 1])."""

    posts: int
    kind_accuracy: float
    exact_match: float
    field_accuracy: dict[str, float]
    field_counts: dict[str, int]
    grades: list[PostGrade]

    @property
    def misses(self) -> list[PostGrade]:
        return [g for g in self.grades if not g.exact]

    def to_dict(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "kind_accuracy": round(self.kind_accuracy, 4),
            "exact_match": round(self.exact_match, 4),
            "fields": {k: round(v, 4) for k, v in self.field_accuracy.items()},
            "misses": [
                {"id": g.post_id, "kind_ok": g.kind_ok, "fields": g.wrong_fields} for g in self.misses
            ],
        }


def grade(post_id: str, label: dict[str, Any], parsed: ParsedPost) -> PostGrade:
    """Compare one parsed post with its label."""
    kind_ok = parsed.kind.value == label.get("kind")
    result = PostGrade(post_id, kind_ok)
    if not kind_ok:
        return result
    if label["kind"] == "signal" and parsed.signal is not None:
        got = parsed.signal.to_dict()
        for name in SIGNAL_FIELDS:
            if not _same(label["signal"].get(name), got.get(name)):
                result.wrong_fields.append(f"signal.{name}")
    elif label["kind"] == "update" and parsed.update is not None:
        got = parsed.update.to_dict()
        for name in UPDATE_FIELDS:
            if not _same(label["update"].get(name), got.get(name)):
                result.wrong_fields.append(f"update.{name}")
    return result


def evaluate(labelled: Iterable[dict[str, Any]], parse: Callable[[str], ParsedPost]) -> Evaluation:
    """Parse every labelled post with ``parse`` and grade it (see the module docstring)."""
    grades: list[PostGrade] = []
    right: dict[str, int] = {}
    seen: dict[str, int] = {}
    for i, label in enumerate(labelled):
        post_id = str(label.get("id", i))
        parsed = parse(label["text"])
        graded = grade(post_id, label, parsed)
        grades.append(graded)
        if not graded.kind_ok or label.get("kind") not in ("signal", "update"):
            continue
        names = SIGNAL_FIELDS if label["kind"] == "signal" else UPDATE_FIELDS
        for name in names:
            key = f"{label['kind']}.{name}"
            seen[key] = seen.get(key, 0) + 1
            if key not in graded.wrong_fields:
                right[key] = right.get(key, 0) + 1
    n = len(grades)
    return Evaluation(
        posts=n,
        kind_accuracy=sum(g.kind_ok for g in grades) / n if n else 0.0,
        exact_match=sum(g.exact for g in grades) / n if n else 0.0,
        field_accuracy={k: right.get(k, 0) / seen[k] for k in sorted(seen)},
        field_counts=dict(sorted(seen.items())),
        grades=grades,
    )
