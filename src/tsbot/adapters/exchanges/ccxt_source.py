"""Candles from crypto exchanges through ccxt's asyncio client, as a
:class:`~tsbot.market.ports.MarketDataSource`.

ccxt errors are translated at this edge:

* ``RequestTimeout``, ``DDoSProtection`` / ``RateLimitExceeded``, ``ExchangeNotAvailable`` and any other
  ``NetworkError``, and the rest of ccxt's ``OperationFailed`` family (``BadResponse``, an exchange's
  "internal error, try again"), become :class:`~tsbot.core.errors.ExchangeUnavailableError` (temporary: the
  caller retries). ccxt maps HTTP 500-503 to ``ExchangeNotAvailable`` and 504 to ``RequestTimeout``;
* ``BadSymbol``, ``BadRequest`` and every other ccxt ``ExchangeError`` become
  :class:`tsbot.core.errors.ExchangeError`.

Messages name the exchange, the symbol and the timeframe.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxt_async

from tsbot.core.errors import ConfigError, ExchangeError, ExchangeUnavailableError
from tsbot.market.models import CandleFrame, Timeframe

_POPULAR_IDS = ("binance", "bybit", "okx", "kraken", "coinbase", "kucoin", "bitget", "gateio")
_MAX_DETAIL = 300


def _detail(exc: BaseException) -> str:
    """The first line of an exception's text, shortened: ccxt messages can carry a whole response body."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def rebase_urls(value: Any, base_url: str) -> Any:
    """Point every http(s) URL in a (nested) ccxt ``urls['api']`` value at ``base_url``, keeping each path.

    ``"https://api.binance.com/api/v3"`` with base ``"http://127.0.0.1:8080"`` becomes
    ``"http://127.0.0.1:8080/api/v3"``; a base with a path prefix (a proxy, ``"http://proxy/binance"``) keeps
    it in front. Strings, dicts and lists are walked; ccxt's ``{hostname}`` templates lose their host part
    like any other URL. Values that are not http(s) URLs are returned unchanged.
    """
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            return value
        rebased = base_url.rstrip("/") + parts.path
        return f"{rebased}?{parts.query}" if parts.query else rebased
    if isinstance(value, Mapping):
        return {k: rebase_urls(v, base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [rebase_urls(v, base_url) for v in value]
    return value


def _unknown_exchange(exchange_id: str) -> ConfigError:
    close = difflib.get_close_matches(exchange_id, ccxt_async.exchanges, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    examples = ", ".join(i for i in _POPULAR_IDS if i in ccxt_async.exchanges)
    return ConfigError(
        f"unknown exchange id {exchange_id!r}.{hint} Valid ids include {examples} "
        f"({len(ccxt_async.exchanges)} in all; they are ccxt's exchange ids, lower case)."
    )


class CcxtSource:
    """Historical candles of one ccxt exchange.

    Args:
        exchange_id: ccxt's id of the exchange, e.g. ``"binance"``; also this source's :attr:`name`.
        base_url: when given, every API URL of the exchange is re-pointed at this scheme and host (keeping
            each path), e.g. ``"http://127.0.0.1:8080"`` for a local server or a caching proxy.
        timeout_s: per-request timeout in seconds.
        api_key, secret: credentials; public candles need none.
        sandbox: use the exchange's test network (``set_sandbox_mode``).
        enable_rate_limit: ccxt's own client-side throttle between requests; keep it on against real
            exchanges.
        options: extra ccxt ``options`` for the exchange (merged into its defaults), e.g.
            ``{"fetchMarkets": {"types": ["spot"]}}`` for binance to load spot markets only.

    Raises:
        ConfigError: unknown exchange id, a base URL that is not http(s), or no sandbox for this exchange.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        api_key: str | None = None,
        secret: str | None = None,
        sandbox: bool = False,
        enable_rate_limit: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        ident = exchange_id.strip().lower()
        if ident not in ccxt_async.exchanges:
            raise _unknown_exchange(exchange_id)
        if base_url is not None and urlsplit(base_url).scheme not in ("http", "https"):
            raise ConfigError(f"base URL for {ident} must start with http:// or https://, got {base_url!r}")
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be positive, got {timeout_s}")
        config: dict[str, Any] = {
            "timeout": max(1, int(timeout_s * 1000)),
            "enableRateLimit": enable_rate_limit,
        }
        if api_key:
            config["apiKey"] = api_key
        if secret:
            config["secret"] = secret
        if options:
            config["options"] = dict(options)
        self.name = ident
        self._exchange = getattr(ccxt_async, ident)(config)
        if sandbox:
            try:
                self._exchange.set_sandbox_mode(True)
            except ccxt.NotSupported as exc:
                raise ConfigError(f"{ident} has no sandbox (test network); unset sandbox") from exc
        if base_url is not None:
            urls = dict(self._exchange.urls)
            urls["api"] = rebase_urls(urls.get("api"), base_url)
            self._exchange.urls = urls

    @property
    def api_urls(self) -> Any:
        """The exchange's API URLs as ccxt will call them (after any base-URL override)."""
        return self._exchange.urls.get("api")

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, since_ms: int, limit: int
    ) -> CandleFrame:
        """Up to ``limit`` bars of ``symbol`` opening at or after ``since_ms`` (ms, UTC), oldest first.

        The exchange's markets are loaded on the first call. The last bar may still be open. Rows are returned
        as the exchange sent them (missing values become NaN); validation is the caller's job.

        Returns:
            CandleFrame with arrays of shape ``(n,)``, ``n <= limit``; prices in quote currency, volume in
            base units.

        Raises:
            ExchangeUnavailableError: timeout, rate limit, 5xx, dropped connection (temporary).
            ExchangeError: unknown symbol, unsupported timeframe, a request the exchange rejects.
        """
        what = f"{self.name} {symbol} {timeframe.value}"
        offered = getattr(self._exchange, "timeframes", None) or {}
        if offered and timeframe.value not in offered:
            raise ExchangeError(
                f"{self.name} does not serve {timeframe.value} candles; it offers {', '.join(offered)}"
            )
        try:
            await self._exchange.load_markets()
            rows = await self._exchange.fetch_ohlcv(symbol, timeframe.value, since=since_ms, limit=limit)
        except ccxt.BadSymbol as exc:
            raise ExchangeError(f"{what}: unknown symbol ({_detail(exc)})") from exc
        except ccxt.RequestTimeout as exc:
            raise ExchangeUnavailableError(f"{what}: request timed out: {_detail(exc)}") from exc
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
            raise ExchangeUnavailableError(f"{what}: rate limited: {_detail(exc)}") from exc
        except ccxt.ExchangeNotAvailable as exc:
            raise ExchangeUnavailableError(f"{what}: exchange not available: {_detail(exc)}") from exc
        except ccxt.NetworkError as exc:
            raise ExchangeUnavailableError(f"{what}: network error: {_detail(exc)}") from exc
        except ccxt.OperationFailed as exc:
            raise ExchangeUnavailableError(
                f"{what}: operation failed, may succeed later: {_detail(exc)}"
            ) from exc
        except TimeoutError as exc:
            raise ExchangeUnavailableError(f"{what}: request timed out") from exc
        except ccxt.BadRequest as exc:
            raise ExchangeError(f"{what}: request rejected: {_detail(exc)}") from exc
        except ccxt.BaseError as exc:
            raise ExchangeError(f"{what}: {type(exc).__name__}: {_detail(exc)}") from exc
        return CandleFrame.from_rows([row[:6] for row in rows])

    async def close(self) -> None:
        """Close the exchange's HTTP session. Safe to call more than once."""
        await self._exchange.close()
