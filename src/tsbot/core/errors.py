"""The error hierarchy.

Every error raised on purpose by tsbot derives from :class:`TsbotError`. Two branches matter to callers:

* :class:`TemporaryError`: the operation may succeed if retried later (a timeout, a rate limit, a 5xx answer).
  Jobs retry these with backoff.
* :class:`OperationalError`: a person must act (bad configuration, an empty store, an unknown symbol). Retrying
  changes nothing; the message says what to do.
"""

from __future__ import annotations


class TsbotError(Exception):
    """Base class of all tsbot errors."""


class TemporaryError(TsbotError):
    """A failure that may go away on retry (timeouts, HTTP 429/5xx, a dropped connection)."""


class OperationalError(TsbotError):
    """A failure that needs a person: the message names the cause and the fix."""


class ConfigError(OperationalError):
    """A configuration value is missing or invalid. The message names the key and the allowed values."""


class DataError(OperationalError):
    """Input data is malformed or inconsistent (bad candle rows, an unreadable file)."""


class NotFoundError(OperationalError):
    """A named object (symbol, series, model) does not exist."""


class EmptyStoreError(NotFoundError):
    """The store holds no candles yet; the user should run ``tsbot data import``."""


class UnknownSymbolError(NotFoundError):
    """A symbol is not in the store. ``known`` lists the symbols that are."""

    def __init__(self, symbol: str, known: list[str]) -> None:
        self.symbol = symbol
        self.known = sorted(known)
        listed = ", ".join(self.known) if self.known else "(none)"
        super().__init__(f"unknown symbol {symbol!r}; known symbols: {listed}")


class NoDataBeforeError(NotFoundError):
    """A point-in-time request asked for a time before the first stored candle of a series."""


class ExchangeError(TsbotError):
    """An exchange answered with an error that is not temporary (bad symbol, bad request)."""


class ExchangeUnavailableError(TemporaryError):
    """An exchange timed out, rate-limited us, or answered 5xx after all retries."""
