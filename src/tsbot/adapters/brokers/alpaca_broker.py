"""US stocks on Alpaca (paper or live account) through alpaca-py's ``TradingClient``, as a
:class:`~tsbot.trading.ports.Broker`.

alpaca-py is synchronous (``requests``): each call runs in a worker thread with :func:`asyncio.to_thread`. The
client runs in raw mode, so every amount arrives as Alpaca's JSON text and becomes a :class:`~decimal.Decimal`
through ``str``; orders are sent with decimal text too (alpaca-py's typed order requests would turn them into
floats). alpaca-py's own blocking retry of HTTP 429 is switched off and every request gets ``timeout_s``; this
adapter retries HTTP 408 / 429 / 5xx, timeouts and dropped connections itself, ``retries`` times with exponential
backoff (``backoff_s``, ``2 * backoff_s``, ...) without blocking the event loop. Retrying an order is safe:
Alpaca refuses a second order with the same ``client_order_id`` (HTTP 422 "client_order_id must be unique"), and
:meth:`AlpacaBroker.place` then returns the existing order.

Symbols are ``TICKER/USD`` in tsbot (``AAPL/USD``) and the bare ticker at Alpaca (``AAPL``). Orders are simple
day orders (``time_in_force=day``); ``reduce_only`` and ``leverage`` have no Alpaca equivalent and are not sent
(the account's margin decides). Alpaca does not return executions with an order, so ``BrokerOrder.fills`` is
empty and reconciliation uses the cumulative ``filled_qty`` / ``avg_fill_price``; US stock trades are
commission-free, so ``fee`` is 0.

The API key and secret live only inside the alpaca-py client: they never appear in a message, ``repr`` or log
written here, and HTTP exceptions (which carry the request and its key headers) are not chained to the errors
raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NoReturn

import requests
import structlog
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from tsbot.adapters.brokers.alpaca_mapping import (
    QUOTE,
    api_message,
    decimal_of,
    decimal_text,
    from_alpaca_symbol,
    order_from_alpaca,
    position_from_alpaca,
    to_alpaca_symbol,
)
from tsbot.adapters.exchanges.alpaca_source import TimeoutSession
from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, ExchangeError, ExchangeUnavailableError
from tsbot.trading.models import (
    Balance,
    BrokerOrder,
    BrokerPosition,
    MarketRules,
    OrderRejectedError,
    OrderRequest,
    OrderStatus,
    OrderType,
)

_log = structlog.get_logger(__name__)

CENT = Decimal("0.01")
SUB_DOLLAR_TICK = Decimal("0.0001")
FRACTIONAL_LOT = Decimal("0.000000001")
FRACTIONAL_MIN_NOTIONAL = Decimal(1)
_TEMPORARY_HTTP = frozenset({408, 429})
_DUPLICATE = "client_order_id must be unique"


class _HttpFailure(Exception):
    """An HTTP answer other than 2xx: its status and Alpaca's ``message`` (never the request)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AlpacaBroker:
    """One Alpaca account (paper by default) as a :class:`~tsbot.trading.ports.Broker` for US stocks.

    Args:
        api_key, secret: Alpaca API key id and secret (paper keys for a paper account).
        paper: the paper-trading host when True, the live one when False (ignored when ``base_url`` is given).
        base_url: trading API base (scheme and host, no ``/v2``): a proxy or a local test server.
        timeout_s: per-request timeout, seconds.
        retries: retries of a temporary failure (HTTP 408/429/5xx, timeout, dropped connection) per call.
        backoff_s: wait before the first retry, seconds; doubles for each further one.
        name: this broker's name in tsbot (``"alpaca"``).

    Raises:
        ConfigError: the key or the secret is missing, or a number is out of range.
    """

    def __init__(
        self,
        *,
        api_key: str,
        secret: str,
        paper: bool = True,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        name: str = "alpaca",
    ) -> None:
        if not api_key or not secret:
            raise ConfigError(
                "the alpaca broker needs an API key id and secret (exchange keys of the account)"
            )
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ConfigError(
                f"alpaca broker: timeout_s must be > 0, retries and backoff_s >= 0 "
                f"(got {timeout_s}, {retries}, {backoff_s})"
            )
        self.name = name
        self.paper = paper
        self._retries = retries
        self._backoff_s = backoff_s
        self._client = TradingClient(
            api_key,
            secret,
            paper=paper,
            raw_data=True,
            url_override=base_url.rstrip("/") if base_url else None,
        )
        self._base_url = str(getattr(self._client._base_url, "value", self._client._base_url))
        # Retries belong to this adapter, which waits without blocking a thread (see the module docstring).
        self._client._retry = 0
        self._client._session.close()
        self._client._session = TimeoutSession(timeout_s)

    def __repr__(self) -> str:
        return f"AlpacaBroker(name={self.name!r}, paper={self.paper}, base_url={self._base_url!r})"

    __str__ = __repr__

    # -- Broker ----------------------------------------------------------------------------------------------
    async def market_rules(self, symbol: str, reference_price: Decimal | None = None) -> MarketRules:
        """Tick, lot and minimum sizes of ``symbol`` (``TICKER/USD``) from Alpaca's asset record.

        Tick: 0.01 USD, or 0.0001 USD when ``reference_price`` (USD) is under 1 (without a price the cent tick
        is used, which Alpaca accepts at every price level). Lot: 1 share; 0.000000001 share for a fractionable
        asset, which then needs an order value of at least 1 USD (and fractional quantities go as market day
        orders only, see :meth:`place`).

        Raises:
            ExchangeError: unknown ticker, not a tradable US stock, or the quote is not USD.
            ExchangeUnavailableError: temporary failure after retries.
        """
        ticker = to_alpaca_symbol(symbol)
        asset = await self._call(f"asset {ticker}", self._client.get_asset, ticker, handled=(404, 422))
        if isinstance(asset, _HttpFailure):
            raise ExchangeError(f"alpaca knows no stock {ticker!r} ({asset.message})")
        if str(asset.get("class", "us_equity")) != "us_equity":
            raise ExchangeError(
                f"{ticker} is a {asset.get('class')} asset at alpaca; this broker trades US stocks"
            )
        if not asset.get("tradable", False) or str(asset.get("status", "active")) != "active":
            raise ExchangeError(f"{ticker} is not tradable at alpaca (status {asset.get('status')})")
        fractionable = bool(asset.get("fractionable", False))
        lot = FRACTIONAL_LOT if fractionable else Decimal(1)
        tick = SUB_DOLLAR_TICK if reference_price is not None and reference_price < 1 else CENT
        return MarketRules(
            symbol=from_alpaca_symbol(ticker),
            tick_size=tick,
            lot_size=lot,
            min_qty=lot,
            min_notional=FRACTIONAL_MIN_NOTIONAL if fractionable else Decimal(0),
            max_qty=None,
            asset_class=AssetClass.STOCK,
            shortable=bool(asset.get("shortable", False)),
        )

    async def place(self, request: OrderRequest) -> BrokerOrder:
        """Send ``request`` as a simple day order; returns Alpaca's acknowledgement (OPEN, or FILLED when a market
        order filled at once). A ``client_order_id`` Alpaca already knows returns the existing order.

        Raises:
            OrderRejectedError: Alpaca refused the order (HTTP 400 / 403, e.g. insufficient buying power / 422),
                with Alpaca's message in ``reason``; or a fractional quantity on a non-market order.
            ExchangeError: bad credentials (401) or another refusal.
            ExchangeUnavailableError: temporary failure after retries.
        """
        what = f"order {request.client_order_id}"
        if request.qty != request.qty.to_integral_value() and request.order_type is not OrderType.MARKET:
            raise OrderRejectedError(
                f"alpaca takes fractional quantities ({request.qty} {request.symbol}) only as market day orders"
            )
        payload: dict[str, str] = {
            "symbol": to_alpaca_symbol(request.symbol),
            "qty": decimal_text(request.qty),
            "side": request.side.value,
            "type": request.order_type.value,
            "time_in_force": "day",
            "client_order_id": request.client_order_id,
        }
        if request.price is not None and request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            payload["limit_price"] = decimal_text(request.price)
        if request.stop_price is not None and request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            payload["stop_price"] = decimal_text(request.stop_price)
        raw = await self._call(what, self._client.post, "/orders", payload, handled=(400, 403, 422))
        if isinstance(raw, _HttpFailure):
            if raw.status == 422 and _DUPLICATE in raw.message:
                existing = await self.fetch_order(request.client_order_id, request.symbol)
                if existing is not None:
                    _log.info("alpaca_duplicate_order", client_order_id=request.client_order_id)
                    return existing
            raise OrderRejectedError(f"alpaca rejected the order: {raw.message}")
        return order_from_alpaca(raw)

    async def cancel(self, client_order_id: str, symbol: str) -> BrokerOrder:
        """Cancel a working order and return it as Alpaca reports it afterwards (an order Alpaca is still
        cancelling reads OPEN); a final order is returned unchanged.

        Raises:
            ExchangeError: Alpaca has no order with this client id, or refused.
            ExchangeUnavailableError: temporary failure after retries.
        """
        order = await self.fetch_order(client_order_id, symbol)
        if order is None:
            raise ExchangeError(f"alpaca has no order with client id {client_order_id!r} to cancel")
        if order.status.final:
            return order
        what = f"cancel {client_order_id}"
        # 422: no longer cancelable (it filled meanwhile); the order as it is now is returned either way.
        await self._call(what, self._client.cancel_order_by_id, order.broker_order_id, handled=(404, 422))
        return order_from_alpaca(await self._call(what, self._client.get_order_by_id, order.broker_order_id))

    async def fetch_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        """The order with our client id (``GET /v2/orders:by_client_order_id``), or None when Alpaca has never
        seen it (HTTP 404).

        Raises:
            ExchangeError: another refusal (bad credentials).
            ExchangeUnavailableError: temporary failure after retries.
        """
        what = f"fetch {client_order_id}"
        raw = await self._call(what, self._client.get_order_by_client_id, client_order_id, handled=(404,))
        return None if isinstance(raw, _HttpFailure) else order_from_alpaca(raw)

    async def open_orders(self, symbol: str | None = None) -> list[BrokerOrder]:
        """Working orders (OPEN / PARTIALLY_FILLED) of one symbol or all, oldest first (at most 500, Alpaca's page
        limit).

        Raises:
            ExchangeError / ExchangeUnavailableError: as :meth:`fetch_order`.
        """
        query = GetOrdersRequest(
            status=QueryOrderStatus.OPEN,
            limit=500,
            direction="asc",
            symbols=[to_alpaca_symbol(symbol)] if symbol else None,
        )
        orders = [
            order_from_alpaca(row) for row in await self._call("open orders", self._client.get_orders, query)
        ]
        working = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
        return [o for o in orders if o.status in working and (symbol is None or o.symbol == symbol)]

    async def balances(self) -> list[Balance]:
        """The account's cash as ``Balance("USD", free=cash)`` (USD; negative when the account borrows on
        margin), or an empty list when the cash is 0.

        Raises:
            ExchangeError / ExchangeUnavailableError: as :meth:`fetch_order`.
        """
        account = await self._call("account", self._client.get_account)
        cash = decimal_of(account.get("cash"), Decimal(0))
        currency = str(account.get("currency") or QUOTE)
        return [Balance(currency, cash)] if cash != 0 else []

    async def positions(self) -> list[BrokerPosition]:
        """Open stock positions: signed quantity in shares (negative for a short), average entry price in USD.

        Raises:
            ExchangeError / ExchangeUnavailableError: as :meth:`fetch_order`.
        """
        rows = await self._call("positions", self._client.get_all_positions)
        return [p for p in map(position_from_alpaca, rows) if p.qty != 0]

    async def close(self) -> None:
        """Close the HTTP session."""
        self._client._session.close()

    # -- transport -------------------------------------------------------------------------------------------
    async def _call(
        self, what: str, fn: Callable[..., Any], *args: Any, handled: tuple[int, ...] = ()
    ) -> Any:
        """``fn(*args)`` in a worker thread, retrying temporary failures with exponential backoff. An HTTP error
        whose status is in ``handled`` is returned as :class:`_HttpFailure` for the caller to map.

        Raises:
            ExchangeUnavailableError: still failing after ``retries`` retries.
            ExchangeError: any other HTTP error (401: the keys) or request failure.
        """
        attempt = 0
        while True:
            failure = await asyncio.to_thread(self._attempt, fn, *args)
            if isinstance(failure, ExchangeError):
                raise ExchangeError(f"alpaca {what}: {failure}")
            if isinstance(failure, _HttpFailure):
                status = failure.status
                temporary = status is None or status in _TEMPORARY_HTTP or status >= 500
                if status in handled:
                    return failure
                if not temporary:
                    self._raise(what, failure)
                if attempt >= self._retries:
                    detail = f"HTTP {status}: {failure.message}" if status else failure.message
                    raise ExchangeUnavailableError(
                        f"alpaca {what}: {detail} (after {self._retries} retr{'y' if self._retries == 1 else 'ies'})"
                    )
                wait = self._backoff_s * 2**attempt
                attempt += 1
                _log.warning(
                    "alpaca_retry",
                    what=what,
                    status=status,
                    error=failure.message,
                    attempt=attempt,
                    wait_s=wait,
                )
                await asyncio.sleep(wait)
                continue
            return failure

    @staticmethod
    def _attempt(fn: Callable[..., Any], *args: Any) -> Any:
        """One call; an HTTP or network failure is returned as :class:`_HttpFailure` (status None: network), any
        other ``requests`` failure as an :class:`ExchangeError`. Returned, not raised, so that no exception that
        holds the request (and its key headers) is chained to what the adapter raises."""
        try:
            return fn(*args)
        except APIError as exc:
            return _HttpFailure(exc.status_code, api_message(exc))
        except requests.Timeout:
            return _HttpFailure(None, "request timed out")
        except (requests.ConnectionError, requests.exceptions.JSONDecodeError) as exc:
            return _HttpFailure(None, f"network error: {type(exc).__name__}")
        except requests.RequestException as exc:
            return ExchangeError(f"request failed: {type(exc).__name__}")

    @staticmethod
    def _raise(what: str, failure: _HttpFailure) -> NoReturn:
        """The :class:`ExchangeError` of a non-temporary failure (401: the keys)."""
        if failure.status == 401:
            raise ExchangeError(
                f"alpaca {what}: HTTP 401: {failure.message}; check the API key id and secret "
                "(paper keys only work on the paper account)"
            )
        raise ExchangeError(f"alpaca {what}: HTTP {failure.status}: {failure.message}")
