"""A running bot's memory as JSON, so a bot driven by the monitoring cycle outlives its process.

:class:`~tsbot.trading.bot.SignalBot` keeps per pair a :class:`~tsbot.trading.bot_state.Sleeve` (cash, the
position, its protection and the client ids of its orders), the role of each order it placed, the entries waiting
for a person's approval, its :class:`~tsbot.trading.risk.RiskState` (with the UTC day its daily loss counts from)
and why it stopped. :func:`bot_snapshot` writes all of it as a JSON object; :func:`restore_bot` puts it back into a
freshly built bot with the same settings.

Decimals are written as plain strings (exact), times as ISO 8601 in UTC. Fields are read by their declared type,
so a snapshot written by an older version with a missing field keeps that field's default, and an unknown field is
refused loudly rather than guessed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tsbot.core.errors import DataError
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_codec import plain_decimal, request_from_json, request_to_json
from tsbot.trading.bot_state import EntryPlan
from tsbot.trading.risk import RiskState

#: Version of the snapshot layout; a snapshot of another version is refused (:func:`restore_bot`).
SNAPSHOT_VERSION = 1


def _dec(value: Decimal) -> str:
    return plain_decimal(value)


def _undec(value: Any) -> Decimal:
    try:
        out = Decimal(str(value))
    except InvalidOperation as exc:
        raise DataError(f"a bot snapshot holds {value!r} where a number belongs") from exc
    return out


def _time(value: datetime) -> str:
    return value.isoformat()


def _untime(value: Any) -> datetime:
    try:
        out = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise DataError(f"a bot snapshot holds {value!r} where a time belongs") from exc
    if out.tzinfo is None:
        raise DataError(f"a bot snapshot holds the naive time {value!r}; times are UTC with an offset")
    return out


def _plan(plan: EntryPlan) -> dict[str, Any]:
    return {
        "side": plan.side,
        "stop": None if plan.stop is None else _dec(plan.stop),
        "targets": [_dec(t) for t in plan.targets],
        "split": [_dec(x) for x in plan.split],
        "trail": None if plan.trail is None else _dec(plan.trail),
    }


def _unplan(data: Mapping[str, Any]) -> EntryPlan:
    return EntryPlan(
        int(data["side"]),
        None if data.get("stop") is None else _undec(data["stop"]),
        [_undec(t) for t in data.get("targets", [])],
        [_undec(x) for x in data.get("split", [])],
        None if data.get("trail") is None else _undec(data["trail"]),
    )


def _opt(write: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else write(v)


# (write, read) per declared field type of Sleeve and RiskState
_CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "str": (str, str),
    "int": (int, int),
    "bool": (bool, bool),
    "Decimal": (_dec, _undec),
    "Decimal | None": (_opt(_dec), _opt(_undec)),
    "datetime | None": (_opt(_time), _opt(_untime)),
    "str | None": (_opt(str), _opt(str)),
    "EntryPlan | None": (_opt(_plan), _opt(_unplan)),
    "list[str]": (list, lambda v: [str(x) for x in v]),
    "dict[str, EntryPlan]": (
        lambda v: {k: _plan(p) for k, p in v.items()},
        lambda v: {str(k): _unplan(p) for k, p in v.items()},
    ),
    "dict[str, Decimal]": (
        lambda v: {k: _dec(x) for k, x in v.items()},
        lambda v: {str(k): _undec(x) for k, x in v.items()},
    ),
    "dict[str, datetime]": (
        lambda v: {k: _time(x) for k, x in v.items()},
        lambda v: {str(k): _untime(x) for k, x in v.items()},
    ),
}


def _write(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        codec = _CODECS.get(str(f.type))
        if codec is None:
            raise TypeError(f"{type(obj).__name__}.{f.name}: no snapshot codec for {f.type}")
        out[f.name] = codec[0](getattr(obj, f.name))
    return out


def _read_into(obj: Any, data: Mapping[str, Any]) -> None:
    names = {f.name: f for f in dataclasses.fields(obj)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise DataError(f"a bot snapshot has fields {type(obj).__name__} does not know: {', '.join(unknown)}")
    for name, value in data.items():
        setattr(obj, name, _CODECS[str(names[name].type)][1](value))


def bot_snapshot(bot: SignalBot) -> dict[str, Any]:
    """The bot's memory (see the module docstring) as a JSON-ready object. Its closed trades and events are not
    part of it: the caller stores those as they happen and clears them."""
    return {
        "version": SNAPSHOT_VERSION,
        "sleeves": {symbol: _write(s) for symbol, s in bot._sleeves.items()},
        "roles": {cid: list(role) for cid, role in bot._roles.items()},
        "awaiting": {
            cid: {"request": request_to_json(req), "price": None if px is None else _dec(px)}
            for cid, (req, px) in bot.awaiting.items()
        },
        "risk": _write(bot.state),
        "stopped_reason": bot.stopped_reason,
        "day": None if bot.day is None else bot.day.isoformat(),
    }


def restore_bot(bot: SignalBot, data: Mapping[str, Any]) -> None:
    """Put a :func:`bot_snapshot` back into ``bot`` (built with the same settings). Pairs the snapshot has and the
    bot no longer trades are dropped; pairs added since start flat with their share of the capital.

    Raises:
        DataError: another snapshot version, or a value that is not what its field holds.
    """
    if data.get("version") != SNAPSHOT_VERSION:
        raise DataError(
            f"bot snapshot version {data.get('version')!r} is not {SNAPSHOT_VERSION}; the bot must be restarted"
        )
    for symbol, fields in data.get("sleeves", {}).items():
        sleeve = bot._sleeves.get(symbol)
        if sleeve is not None:
            _read_into(sleeve, fields)
    bot._roles = {str(cid): (str(role[0]), str(role[1])) for cid, role in data.get("roles", {}).items()}
    bot.awaiting = {
        str(cid): (
            request_from_json(item["request"]),
            None if item.get("price") is None else _undec(item["price"]),
        )
        for cid, item in data.get("awaiting", {}).items()
    }
    state = RiskState(bot.settings.capital, bot.settings.capital, bot.settings.capital)
    _read_into(state, data.get("risk", {}))
    bot.state = state
    reason = data.get("stopped_reason")
    bot.stopped_reason = None if reason is None else str(reason)
    day = data.get("day")
    try:
        bot.day = None if day is None else date.fromisoformat(str(day))
    except ValueError as exc:
        raise DataError(f"a bot snapshot holds {day!r} where a day belongs") from exc


def open_orders(bot: SignalBot) -> set[str]:
    """Client ids of the bot's orders that still matter: entries pending or awaiting approval, the position's
    entry, its protective legs and its exit."""
    out = set(bot.awaiting)
    for s in bot._sleeves.values():
        out.update(s.pending)
        out.update(s.legs)
        if s.side and s.entry_cid:
            out.add(s.entry_cid)
        if s.exiting:
            out.add(s.exiting)
        if s.stop_leg:
            out.add(s.stop_leg)
    return out


def forget_settled(bot: SignalBot, keep: set[str]) -> None:
    """Drop the roles of the bot's orders outside ``keep`` (orders that are final and no longer part of a
    position), so its memory does not grow with every order it ever placed."""
    bot._roles = {cid: role for cid, role in bot._roles.items() if cid in keep}
