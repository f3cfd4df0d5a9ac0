"""The configuration sections the admin routes read and change (:mod:`tsbot.apps.api.admin_config`): which
settings each section holds, which keys are secrets (shown masked) or need a restart, and small helpers over
settings-shaped dicts (dotted keys, masking, nesting depth).

Sections: ``app`` (the top-level keys of ``app.yaml`` but ``log_level``), ``trading`` (``trading.yaml`` but the
watchlist and timeframe), ``logging`` (``log_level``) and ``symbols`` (``trading.watchlist``, ``trading.timeframe``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, SecretStr

from tsbot.apps.logs import mask_text
from tsbot.config import Settings, TradingConfig

#: Shown in place of a secret.
MASK: Final = "***"
#: The configuration sections.
Section = Literal["app", "trading", "logging", "symbols"]
#: Dotted keys (and key prefixes) that need a restart: refused by the update routes.
RESTART_KEYS: Final = (
    "database_url",
    "database_pool_size",
    "database_max_overflow",
    "redis_url",
    "broker_url",
    "data_dir",
    "api.host",
    "api.port",
    "api.cors_origins",
    "api.max_body_bytes",
    "sentiment_model",
)
#: Secrets by name: shown masked, never changed here (so are :data:`SECRET_FIELDS` and all of ``security``).
SECRET_NAMES: Final = frozenset(
    {
        "alpaca_api_key",
        "alpaca_secret_key",
        "api_key",
        "client_secret",
        "password",
        "jwt_secret",
        "encryption_keys",
    }
)


def _secret_fields(model: type[BaseModel], lead: str = "") -> frozenset[str]:
    """Dotted keys of the fields of ``model`` (and its nested models) typed ``SecretStr`` (alone, optional or in a
    list)."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        types = [info.annotation, *get_args(info.annotation)]
        types += [a for t in types for a in get_args(t)]
        if SecretStr in types:
            found.add(lead + name)
        for kind in types:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= _secret_fields(kind, f"{lead}{name}.")
    return frozenset(found)


#: Dotted keys of every ``SecretStr`` setting (set or not).
SECRET_FIELDS: Final = _secret_fields(Settings)
_SYMBOL_KEYS: Final = ("watchlist", "timeframe")
_TRADING_KEYS: Final = tuple(k for k in TradingConfig.model_fields if k not in _SYMBOL_KEYS)
_APP_KEYS: Final = tuple(k for k in Settings.model_fields if k not in ("trading", "log_level"))
#: Deepest nesting of an update body.
MAX_DEPTH: Final = 8


def view(section: Section, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The section's part of a settings-shaped dict."""
    if section == "app":
        return {k: settings[k] for k in _APP_KEYS if k in settings}
    if section == "logging":
        return {"log_level": settings.get("log_level")}
    trading = settings.get("trading") or {}
    keys = _SYMBOL_KEYS if section == "symbols" else _TRADING_KEYS
    return {k: trading[k] for k in keys if k in trading}


def tree(section: Section, values: Mapping[str, Any]) -> dict[str, Any]:
    """A section's values as a settings-shaped dict."""
    return {"trading": dict(values)} if section in ("trading", "symbols") else dict(values)


def prefix(section: Section) -> str:
    """What the section's keys start with in dotted settings keys (``trading.`` or nothing)."""
    return "trading." if section in ("trading", "symbols") else ""


def allowed(section: Section) -> tuple[str, ...]:
    """The top-level keys of the section's values."""
    return {"app": _APP_KEYS, "trading": _TRADING_KEYS, "logging": ("log_level",), "symbols": _SYMBOL_KEYS}[
        section
    ]


def is_secret(key: str, value: Any) -> bool:
    """Whether the dotted settings ``key`` holding ``value`` is a secret."""
    last = key.rsplit(".", 1)[-1]
    return (
        key == "security"
        or key.startswith("security.")
        or last in SECRET_NAMES
        or key in SECRET_FIELDS
        or isinstance(value, SecretStr)
    )


def masked(value: Any, key: str = "") -> Any:
    """JSON-ready ``value`` with secrets replaced by :data:`MASK` and passwords in URLs hidden."""
    if isinstance(value, Mapping):
        return {str(k): masked(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if is_secret(key, value) and value:
            return [MASK for _ in value]
        return [masked(v, key) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    if is_secret(key, value):
        return MASK
    if isinstance(value, Path):
        return value.as_posix()
    text = value.value if hasattr(value, "value") else str(value)
    return mask_text(str(text))


def flat(nested: Mapping[str, Any], lead: str = "") -> dict[str, Any]:
    """Dotted keys (each after ``lead``) of a nested dict (lists and other values are leaves)."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        dotted = f"{lead}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def restart_keys(section: Section, values: Mapping[str, Any]) -> list[str]:
    """The dotted keys of the section's ``values`` that need a restart (:data:`RESTART_KEYS`)."""
    keys = flat(values, prefix(section))
    return sorted(k for k in keys if any(k == r or k.startswith(r + ".") for r in RESTART_KEYS))


def secret_keys(section: Section, values: Mapping[str, Any]) -> list[str]:
    """The dotted keys of the section's ``values`` that hold secrets."""
    return sorted(k for k, v in flat(values, prefix(section)).items() if is_secret(k, v))


def drop_unchanged_masked(body: Mapping[str, Any], shown_values: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` without the keys sent back with the masked value shown for them in ``shown_values`` (they stay as
    they are)."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        shown = shown_values.get(key)
        if isinstance(value, Mapping) and isinstance(shown, Mapping):
            out[key] = drop_unchanged_masked(value, shown)
        elif not (value == shown and shows_mask(shown)):
            out[key] = value
    return out


def shows_mask(value: Any) -> bool:
    """Whether a shown value has something masked in it."""
    return (isinstance(value, str) and MASK in value) or (isinstance(value, list) and MASK in value)


def in_section(section: Section, key: str) -> bool:
    """Whether the dotted settings ``key`` belongs to ``section``."""
    parts = key.split(".")
    if section in ("trading", "symbols"):
        return len(parts) > 1 and parts[0] == "trading" and parts[1] in allowed(section)
    return parts[0] in allowed(section)


def too_deep(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` nests deeper than :data:`MAX_DEPTH` (counting from ``depth``)."""
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, Mapping):
        return any(too_deep(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(too_deep(v, depth + 1) for v in value)
    return False
