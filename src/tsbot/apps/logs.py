"""Structured logs for tsbot's processes: one JSON object per line, secrets masked.

:func:`configure_logging` sets up structlog and routes the standard library's ``logging`` (uvicorn, SQLAlchemy,
httpx...) through the same processors, so every line of a process has one shape::

    {"event": "http.request", "level": "info", "timestamp": "2025-01-02T03:04:05.678901Z", "request_id": "...", ...}

:func:`mask_secrets` is the processor that hides secrets: values under keys that name a secret (``password``,
``token``, ``api_key``, ``authorization``, ``totp``, ``code``...) become ``"***"``, and inside any string value
bearer/basic credentials, JWT-looking strings, ``key=value`` pairs naming a secret, passwords in URLs and the
token segment of ``/webhooks/tradingview/<token>`` paths are replaced.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from tsbot.config import Settings

#: What a masked value is replaced with.
MASK = "***"

#: Key fragments (lower case, ``_`` and ``-`` removed) that make a key's value secret wherever they occur.
_SECRET_FRAGMENTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "authorization",
    "cookie",
    "credential",
    "totp",
    "jwt",
    "sessionid",
    "signature",
)
#: Whole keys that are secret although they are common words.
_SECRET_KEYS = frozenset({"auth", "code", "otp", "pin", "pwd", "mfa", "key_material"})
#: ``<word>_code`` keys that are not secrets (everything else ending in ``_code`` is: verification, reset...).
_PLAIN_CODE_PREFIXES = frozenset(
    {
        "status",
        "http",
        "exit",
        "error",
        "return",
        "response",
        "reason",
        "country",
        "currency",
        "language",
        "lang",
        "postal",
        "zip",
        "exchange",
        "asset",
        "market",
        "symbol",
        "close",
    }
)

# One pass over a string value: each alternative keeps its prefix (group 1..5) and drops the secret after it.
_SECRET_IN_TEXT = re.compile(
    r"(?P<scheme>\b(?:[Bb]earer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"
    r"|(?P<pair>(?i:\b(?:password|passwd|pwd|secret|token|access_token|refresh_token|id_token|api_?key"
    r"|code|totp|otp|signature|client_secret))(?:=|[\"']\s*:\s*[\"']))[^\s&\"',;}]+"
    r"|(?P<url>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(?=@)"
    r"|(?P<hook>/webhooks/tradingview/)[^/\s?#\"']+"
)
#: Fields whose values tsbot itself writes (never a secret): not scanned.
_PLAIN_FIELDS = frozenset({"timestamp", "level", "logger", "request_id", "method", "status", "duration_ms"})


def _replace_secret(match: re.Match[str]) -> str:
    if match.lastgroup == "jwt":
        return MASK
    return match.group(match.lastgroup or 0) + MASK


def mask_text(text: str) -> str:
    """``text`` with credentials inside it replaced by ``***`` (see the module docstring for what is found)."""
    # Cheap substring tests first: one of these occurs in every string the expression can change.
    if not (
        "=" in text
        or ":" in text
        or "eyJ" in text
        or "earer" in text
        or "Basic" in text
        or "/webhooks/" in text
    ):
        return text
    return _SECRET_IN_TEXT.sub(_replace_secret, text)


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a log field or header named ``key`` holds a secret (case, ``-`` and ``_`` are ignored)."""
    norm = key.strip().lower().replace("-", "_")
    if norm in _SECRET_KEYS:
        return True
    if norm.endswith("_code") and norm[: -len("_code")] not in _PLAIN_CODE_PREFIXES:
        return True
    compact = norm.replace("_", "")
    return any(fragment in compact for fragment in _SECRET_FRAGMENTS)


def _mask_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if depth > 6:
        return value
    if isinstance(value, Mapping):
        return {
            k: (
                MASK
                if isinstance(k, str) and is_secret_key(k) and v is not None
                else _mask_value(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask_value(item, depth + 1) for item in value]
    if isinstance(value, bytes):
        return mask_text(value.decode("utf-8", "replace"))
    return value


def mask_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secret fields and credentials inside values (nested dicts and lists too).

    Keys are judged by :func:`is_secret_key`; ``None`` values stay ``None`` (that a secret is absent is not a
    secret). Runs after exception formatting so tracebacks are masked as well.
    """
    for key, value in event_dict.items():
        if value is None:
            continue
        if is_secret_key(key):
            event_dict[key] = MASK
        elif key in _PLAIN_FIELDS:
            continue
        elif isinstance(value, str):
            event_dict[key] = mask_text(value)
        elif isinstance(value, Mapping | list | tuple | bytes):
            event_dict[key] = _mask_value(value, 0)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


def configure_logging(settings: Settings, json: bool = True, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's logging for a process (call once, at start).

    Parameters
    ----------
    settings:
        ``settings.log_level`` (``DEBUG``/``INFO``/``WARNING``/``ERROR``) is the lowest level written.
    json:
        One JSON object per line (``True``, for servers) or structlog's readable console lines (``False``).
    stream:
        Where lines go; default ``sys.stderr`` (stdout stays free for a command's own output).

    Every line carries ``timestamp`` (ISO 8601, UTC), ``level``, ``event``, the fields bound with
    ``structlog.contextvars`` (the API binds ``request_id``) and passes through :func:`mask_secrets`.
    Loggers are not cached, so a later call (a test, a reload) takes effect everywhere.
    """
    out = stream if stream is not None else sys.stderr
    level = logging.getLevelNamesMapping()[settings.log_level]
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    tail: list[Processor] = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        mask_secrets,
    ]
    structlog.configure(
        processors=[*_shared_processors(), *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's access lines would repeat the API's own (which redacts webhook tokens): keep them out.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
