"""Plain-text templates of notifications: a one-line title and a body per type, rendered with Jinja2 (sandboxed, no
autoescaping: the text is plain, never HTML) from the request's context.

Missing values never fail a notification: a missing key renders as ``?`` (``{{ symbol }}`` with no ``symbol``), and
a template that still cannot render falls back to the type's label as title and the context's ``key: value`` lines
as body (:func:`fallback`). Titles are cut to :data:`MAX_TITLE_CHARS`, bodies to :data:`MAX_BODY_CHARS`, so title and
body fit one Telegram message (4096 characters).

Context keys each type's template reads (all optional):

* ``signal_changed``: ``symbol``, ``timeframe``, ``exchange``, ``from_action`` (none, empty or ``"none"``: a
  series' first signal), ``to_action``, ``score`` (in [-1, 1]), ``confidence`` (0 to 1), ``price``, ``stop_loss``,
  ``take_profit`` (list), ``reasons`` (list of text), ``changed_at`` (or ``as_of``);
* ``trade_executed``: ``symbol``, ``side``, ``quantity``, ``price``, ``fee``, ``fee_asset``, ``mode`` (paper/live),
  ``order_id``, ``bot``, ``executed_at``;
* ``price_alert``: ``symbol``, ``condition`` (above/below/crosses), ``level``, ``price``, ``note``,
  ``triggered_at`` (or ``at``);
* ``approval_needed``: ``summary``, ``symbol``, ``side``, ``quantity``, ``price``, ``reason``, ``approval_id``,
  ``expires_at``, ``url``;
* ``system``: ``title``, ``message``, ``severity`` (info/warning/error).

Times (``changed_at``, ``as_of``, ``executed_at``, ``triggered_at``, ``at``, ``expires_at``; ISO 8601 text as
:func:`~tsbot.notify.policy.check_request` leaves them, or datetimes) are shown for people by the ``when`` filter
(:func:`human_time`): in the recipient's time zone, to the minute, with the zone's abbreviation
(``2022-07-06 06:00 CEST``). The context itself (the JSON ``data`` of the notification) keeps the ISO text.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from jinja2 import ChainableUndefined, TemplateError, Undefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from tsbot.notify.models import NotificationType, Rendered

MAX_TITLE_CHARS: Final = 200
MAX_BODY_CHARS: Final = 3_500
#: What a missing value renders as.
MISSING: Final = "?"
#: The context variable the ``when`` filter reads the recipient's time zone from (set by :meth:`Templates.render`).
ZONE_VAR: Final = "_recipient_zone"

_log = structlog.get_logger("tsbot.notify.templates")

#: Labels of the types (fallback titles, summaries).
LABELS: Final[Mapping[NotificationType, str]] = {
    NotificationType.SIGNAL_CHANGED: "Signal changed",
    NotificationType.TRADE_EXECUTED: "Trade executed",
    NotificationType.PRICE_ALERT: "Price alert",
    NotificationType.APPROVAL_NEEDED: "Approval needed",
    NotificationType.SYSTEM: "System notice",
}

#: (title, body) Jinja2 sources per type.
TEMPLATES: Final[Mapping[NotificationType, tuple[str, str]]] = {
    NotificationType.SIGNAL_CHANGED: (
        "{{ symbol }} {{ timeframe }}: {{ from_action | known | upper or 'new' }} → {{ to_action | upper }}",
        "The signal for {{ symbol }} ({{ timeframe }}{% if exchange %}, {{ exchange }}{% endif %}) changed "
        "{% if from_action | known %}from {{ from_action | upper }} {% endif %}to {{ to_action | upper }}.\n"
        "Score: {{ score | num(2) }}   Confidence: {{ confidence | pct }}\n"
        "{% if price %}Price: {{ price | num }}\n{% endif %}"
        "{% if stop_loss %}Stop-loss: {{ stop_loss | num }}\n{% endif %}"
        "{% if take_profit %}Take-profit: {% for t in take_profit | as_list %}{{ t | num }}"
        "{% if not loop.last %}, {% endif %}{% endfor %}\n{% endif %}"
        "{% if reasons %}Why:\n{% for r in reasons | as_list %}- {{ r }}\n{% endfor %}{% endif %}"
        "{% if changed_at or as_of %}At: {{ (changed_at or as_of) | when }}{% endif %}",
    ),
    NotificationType.TRADE_EXECUTED: (
        "{{ side | upper }} {{ quantity | num }} {{ symbol }} @ {{ price | num }}{% if mode %} ({{ mode }}){% endif %}",
        "{% if mode == 'paper' %}Paper trade{% else %}Trade{% endif %} executed: {{ side | upper }} "
        "{{ quantity | num }} {{ symbol }} at {{ price | num }}.\n"
        "{% if fee %}Fee: {{ fee | num }}{% if fee_asset %} {{ fee_asset }}{% endif %}\n{% endif %}"
        "{% if bot %}Bot: {{ bot }}\n{% endif %}"
        "{% if order_id %}Order: {{ order_id }}\n{% endif %}"
        "{% if executed_at %}At: {{ executed_at | when }}{% endif %}",
    ),
    NotificationType.PRICE_ALERT: (
        "{{ symbol }} {{ condition }} {{ level | num }}",
        "{{ symbol }} {% if condition == 'crosses' %}crossed{% else %}is {{ condition }}{% endif %} "
        "{{ level | num }}: last price {{ price | num }}.\n"
        "{% if note %}Note: {{ note }}\n{% endif %}"
        "{% if triggered_at or at %}At: {{ (triggered_at or at) | when }}{% endif %}",
    ),
    NotificationType.APPROVAL_NEEDED: (
        "Approval needed: {{ summary or (side | upper) ~ ' ' ~ (quantity | num) ~ ' ' ~ symbol }}",
        "{% if summary %}{{ summary }}\n{% endif %}"
        "{% if symbol %}{{ side | upper }} {{ quantity | num }} {{ symbol }}"
        "{% if price %} at {{ price | num }}{% endif %}\n{% endif %}"
        "{% if reason %}Why: {{ reason }}\n{% endif %}"
        "{% if expires_at %}Decide before {{ expires_at | when }}.\n{% endif %}"
        "{% if url %}Review: {{ url }}\n{% elif approval_id %}Approval id: {{ approval_id }}\n{% endif %}",
    ),
    NotificationType.SYSTEM: (
        "{% if severity and severity != 'info' %}[{{ severity | upper }}] {% endif %}{{ title or 'System notice' }}",
        "{{ message }}",
    ),
}


class _Missing(ChainableUndefined):
    """A missing value: renders as :data:`MISSING`, is false, iterates as empty, and chains (``a.b`` is missing)."""

    def __str__(self) -> str:
        return MISSING


def _num(value: Any, places: int | None = None) -> str:
    """A number as plain decimal text without exponent or trailing zeros (``"0.000065"``, ``70000``); floats to 8
    significant digits (decimal strings are exact), or rounded to ``places`` decimals when given; text that is not a
    number as is."""
    if isinstance(value, Undefined):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return str(value)
    try:
        number = Decimal(format(value, ".8g") if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite() or abs(number.adjusted()) > 30:
        return str(value)
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-places))
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pct(value: Any) -> str:
    """A ratio in [0, 1] as a percentage (``0.62`` -> ``62%``); anything else as :func:`_num` gives it."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return f"{value * 100:.0f}%"
    return _num(value)


def _known(value: Any) -> Any:
    """The value, or an empty text when it is missing, empty or the word ``none`` (any case)."""
    if isinstance(value, Undefined) or value is None:
        return ""
    return "" if str(value).strip().lower() in ("", "none", "null") else value


def _as_list(value: Any) -> list[Any]:
    """A list as is, a single value (text, number) as a list of one, a missing value as an empty list."""
    if isinstance(value, Undefined) or value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


@functools.lru_cache(maxsize=256)
def time_zone(name: str | None) -> tzinfo:
    """The IANA time zone ``name`` (``Europe/Berlin``); UTC for None, an empty name, or a name that is not a zone
    on this machine (logged as ``notify.unknown_time_zone``, once per process and name): a stored setting that no
    longer resolves must not stop a notification."""
    value = (name or "").strip()
    if not value or value.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        _log.warning("notify.unknown_time_zone", time_zone=value[:64])
        return UTC


def human_time(value: Any, zone: tzinfo = UTC) -> str:
    """A time as people read it: ``value`` (an aware datetime, or ISO 8601 text; naive means UTC) in ``zone``, to
    the minute, with the zone's abbreviation: ``2022-07-06 06:00 CEST``, ``2022-07-06 04:00 UTC``. Zones without a
    letter abbreviation show their offset from UTC (``2022-07-06 01:00 UTC-03``). A date without a time, and text
    that is not ISO 8601, are returned as they are; a missing value as :data:`MISSING`."""
    if isinstance(value, Undefined) or value is None:
        return MISSING
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value.isoformat()
    else:
        text = str(value).strip()
        if len(text) <= len("2024-01-01"):
            return text
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
    moment = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(zone)
    abbreviation = moment.strftime("%Z")
    if not abbreviation or abbreviation[0] in "+-":
        abbreviation = f"UTC{abbreviation}"
    return f"{moment:%Y-%m-%d %H:%M} {abbreviation}"


@pass_context
def _when(context: Context, value: Any) -> str:
    """The ``when`` filter: :func:`human_time` in the zone :meth:`Templates.render` put in :data:`ZONE_VAR`."""
    zone = context.get(ZONE_VAR)
    return human_time(value, zone if isinstance(zone, tzinfo) else UTC)


def _compile(sources: Mapping[NotificationType, tuple[str, str]] | None) -> dict[NotificationType, Any]:
    """(title, body) compiled templates of every type: ``sources`` over :data:`TEMPLATES`."""
    env = _environment()
    merged = {**TEMPLATES, **(sources or {})}
    return {t: (env.from_string(title), env.from_string(body)) for t, (title, body) in merged.items()}


@functools.cache
def _default_compiled() -> dict[NotificationType, Any]:
    """:data:`TEMPLATES` compiled once per process (compiling takes tens of milliseconds, and a notification
    service is built for every cycle and every worker job)."""
    return _compile(None)


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=False, undefined=_Missing, keep_trailing_newline=False)
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["as_list"] = _as_list
    env.filters["known"] = _known
    env.filters["when"] = _when
    return env


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Templates:
    """The templates of every type (:data:`TEMPLATES` unless others are given), compiled once.

    Args:
        sources: (title, body) Jinja2 sources per type; types left out use :data:`TEMPLATES`.

    Raises:
        jinja2.TemplateSyntaxError: a given source does not compile.
    """

    def __init__(self, sources: Mapping[NotificationType, tuple[str, str]] | None = None) -> None:
        self._compiled = _compile(sources) if sources else _default_compiled()

    def render(
        self, type_: NotificationType, context: Mapping[str, Any], *, time_zone_name: str | None = None
    ) -> Rendered:
        """The title (one line, at most :data:`MAX_TITLE_CHARS`) and body (at most :data:`MAX_BODY_CHARS`) of a
        notification of ``type_`` from ``context``, its times shown in the IANA zone ``time_zone_name`` (the
        recipient's; None or a name that is no zone: UTC, see :func:`time_zone`); never raises (see
        :func:`fallback`)."""
        type_ = NotificationType(type_)
        title_t, body_t = self._compiled[type_]
        variables = {**context, ZONE_VAR: time_zone(time_zone_name)}
        try:
            title = _one_line(title_t.render(variables))
            body = body_t.render(variables).strip()
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            _log.warning("notify.template_failed", type=type_.value, error=type(exc).__name__)
            return fallback(type_, context)
        label = LABELS[type_]
        return Rendered(_cut(title or label, MAX_TITLE_CHARS), _cut(body or f"{label}.", MAX_BODY_CHARS))


def fallback(type_: NotificationType, context: Mapping[str, Any]) -> Rendered:
    """The type's label as title and one ``key: value`` line per context entry as body."""
    lines = [f"{k}: {v if isinstance(v, str) else json.dumps(v, default=str)}" for k, v in context.items()]
    return Rendered(LABELS[NotificationType(type_)], _cut("\n".join(lines), MAX_BODY_CHARS))
