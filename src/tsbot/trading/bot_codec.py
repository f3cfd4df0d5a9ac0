"""JSON forms of what bots store: risk limits (:func:`risk_to_json`) and order requests (:func:`request_to_json`).

Decimals are plain-notation strings (``"0.0125"``), durations are seconds (an int when whole), enums their values,
None is kept; each ``*_from_json`` gives back exactly what its ``*_to_json`` was given. Re-exported by
:mod:`tsbot.trading.bots`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from tsbot.core.errors import ConfigError, DataError
from tsbot.trading.models import OrderRequest, OrderSide, OrderType
from tsbot.trading.risk import RiskLimits


def plain_decimal(value: Decimal) -> str:
    """``value`` in plain notation (``Decimal("1E+2")`` -> ``"100"``), every stored digit kept."""
    return format(value, "f")


def _kind(type_name: object) -> str:
    """The JSON kind of a :class:`RiskLimits` field from its annotation."""
    text = str(type_name)
    for marker, kind in (("timedelta", "seconds"), ("Decimal", "decimal"), ("bool", "bool"), ("int", "int")):
        if marker in text:
            return kind
    raise TypeError(f"risk limit of type {text} has no JSON form")


_RISK_KINDS = {f.name: _kind(f.type) for f in fields(RiskLimits)}


def risk_to_json(limits: RiskLimits) -> dict[str, Any]:
    """Every limit of ``limits`` as JSON values: Decimals as plain strings (``"0.01"``), durations as seconds (an
    int when whole), counts as ints, switches as booleans, None (rule off) kept."""
    out: dict[str, Any] = {}
    for name, kind in _RISK_KINDS.items():
        value = getattr(limits, name)
        if value is None or kind in ("bool", "int"):
            out[name] = value
        elif kind == "decimal":
            out[name] = plain_decimal(value)
        else:
            seconds = value.total_seconds()
            out[name] = int(seconds) if seconds == int(seconds) else seconds
    return out


def risk_from_json(data: Mapping[str, Any]) -> RiskLimits:
    """The limits :func:`risk_to_json` wrote (a key left out takes its default).

    Raises:
        ConfigError: an unknown key, a value of the wrong type, or a limit out of its range.
    """
    unknown = sorted(set(data) - set(_RISK_KINDS))
    if unknown:
        raise ConfigError(f"unknown risk limit(s) {', '.join(unknown)}; known: {', '.join(_RISK_KINDS)}")
    values: dict[str, Any] = {}
    for name, raw in data.items():
        kind = _RISK_KINDS[name]
        if raw is None:
            values[name] = None
            continue
        ok = isinstance(raw, bool) if kind == "bool" else not isinstance(raw, bool)
        try:
            if not ok:
                raise TypeError
            if kind == "decimal":
                values[name] = Decimal(str(raw))
            elif kind == "seconds":
                values[name] = timedelta(seconds=float(raw))
            elif kind == "int":
                if not isinstance(raw, int):
                    raise TypeError
                values[name] = raw
            else:
                values[name] = raw
        except (TypeError, ValueError, InvalidOperation, OverflowError):
            raise ConfigError(f"risk limit {name} = {raw!r} is not a valid {kind} value") from None
    try:
        return RiskLimits(**values)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


_REQUEST_DECIMALS = ("qty", "price", "stop_price", "leverage", "quote_qty")
_REQUEST_FIELDS = tuple(f.name for f in fields(OrderRequest))


def request_to_json(request: OrderRequest) -> dict[str, Any]:
    """Every field of ``request``: Decimals as plain strings, side and type as their values, None kept."""
    out: dict[str, Any] = {}
    for name in _REQUEST_FIELDS:
        value = getattr(request, name)
        if isinstance(value, Decimal):
            value = plain_decimal(value)
        elif isinstance(value, StrEnum):
            value = value.value
        out[name] = value
    return out


def request_from_json(data: Mapping[str, Any]) -> OrderRequest:
    """The request :func:`request_to_json` wrote.

    Raises:
        DataError: an unknown or missing required key, or a value that is not what the field holds.
    """
    unknown = sorted(set(data) - set(_REQUEST_FIELDS))
    if unknown:
        raise DataError(f"unknown order request field(s) {', '.join(unknown)}")
    values = dict(data)
    try:
        for name in _REQUEST_DECIMALS:
            if values.get(name) is not None:
                values[name] = Decimal(str(values[name]))
        values["side"] = OrderSide(values["side"])
        values["order_type"] = OrderType(values["order_type"])
        if "reduce_only" in values:
            values["reduce_only"] = bool(values["reduce_only"])
        return OrderRequest(**values)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise DataError(f"stored order request is malformed ({exc!r}): {dict(data)}") from None
