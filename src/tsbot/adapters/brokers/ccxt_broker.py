"""A live crypto account (Binance, Coinbase, Kraken spot) through ccxt's asyncio client, as a
:class:`~tsbot.trading.ports.Broker`.

Orders carry our ``client_order_id`` as the venue's client id (Binance ``newClientOrderId``, Kraken
``cl_ord_id``, Coinbase ``client_order_id``) and are looked up by it, so a retried or repeated :meth:`place`
never opens a second order: when the venue answers "duplicate", the existing order is fetched and returned.
Kraken refuses a repeated ``cl_ord_id`` only while its order is open, and only UUID-like ids: ours goes UUID-shaped
(:func:`venue_client_id`) and is looked up before every send. On Kraken and Coinbase a failed send is looked up
before its retry; Coinbase cannot look up by client id, so its open and latest 100 orders of the symbol are searched.

Errors are translated at this edge: timeouts, HTTP 429 / 5xx and dropped connections (ccxt's
``OperationFailed`` family) are retried ``retries`` times with exponential backoff, then raise
:class:`~tsbot.core.errors.ExchangeUnavailableError`; refusals of an order (insufficient funds, invalid order,
filter failures) raise :class:`~tsbot.trading.models.OrderRejectedError` with the venue's message; bad
credentials, unknown symbols and other refusals raise :class:`~tsbot.core.errors.ExchangeError`. Credentials are
removed from every message and log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async

from tsbot.adapters.brokers.ccxt_mapping import (
    ccxt_config,
    dec,
    is_duplicate,
    order_from_ccxt,
    order_params,
    rules_from_market,
    venue_client_id,
    venue_message,
)
from tsbot.core.errors import ExchangeError, ExchangeUnavailableError
from tsbot.trading.models import (
    Balance,
    BrokerOrder,
    BrokerPosition,
    MarketRules,
    OrderRejectedError,
    OrderRequest,
    OrderStatus,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

SUPPORTED_EXCHANGES = ("binance", "coinbase", "kraken")


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """ccxt's request/response debug log (which prints request headers, API key included) with the
    credentials replaced by ``***``."""

    def __init__(self, logger: logging.Logger, secrets: tuple[str, ...]) -> None:
        super().__init__(logger, {})
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        self.logger.log(level, "%s", text)


class CcxtBroker:
    """One spot account on Binance, Coinbase or Kraken.

    Args:
        exchange_id: ``"binance"``, ``"coinbase"`` or ``"kraken"``.
        api_key, secret, password: the account's credentials (``password``: the passphrase some keys have).
        sandbox: trade on the venue's test network (ccxt ``set_sandbox_mode``).
        api_urls: replacements for entries of ccxt's ``urls["api"]`` (``{"public": ..., "private": ...}``), for
            a private deployment or a local test server.
        timeout_s: per-request timeout, seconds.
        retries: how many times a temporary failure is retried; ``backoff_s`` is the first wait, doubled each time.
        name: this broker's name (default: the exchange id).

    Raises:
        ExchangeError: an unsupported exchange id, or no sandbox for it.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        api_key: str,
        secret: str,
        password: str | None = None,
        sandbox: bool = False,
        api_urls: dict[str, str] | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        name: str | None = None,
    ) -> None:
        ident = exchange_id.strip().lower()
        if ident not in SUPPORTED_EXCHANGES:
            raise ExchangeError(
                f"unsupported exchange {exchange_id!r}; supported: {', '.join(SUPPORTED_EXCHANGES)}"
            )
        self.exchange_id = ident
        self.name = name or ident
        self._secrets = tuple(s for s in (api_key, secret, password) if s and len(s) >= 4)
        self._retries = max(0, retries)
        self._backoff_s = max(0.0, backoff_s)
        config: dict[str, Any] = {
            "apiKey": api_key,
            "secret": secret,
            "timeout": max(1, int(timeout_s * 1000)),
            "enableRateLimit": True,
            **ccxt_config(ident),
            "logger": _RedactingLogger(logging.getLogger(f"{__name__}.http"), self._secrets),
        }
        if password:
            config["password"] = password
        self._exchange = getattr(ccxt_async, ident)(config)
        if sandbox:
            if not self._exchange.urls.get("test"):
                raise ExchangeError(f"{ident} has no sandbox (test network) in ccxt; unset sandbox")
            self._exchange.set_sandbox_mode(True)
        if api_urls:
            urls = dict(self._exchange.urls)
            api = dict(urls.get("api") or {})
            api.update(api_urls)
            urls["api"] = api
            self._exchange.urls = urls
        self._venue_ids: dict[str, str] = {}
        self._our_ids: dict[str, str] = {}  # the venue's client id -> ours, where they differ (Kraken)

    def __repr__(self) -> str:
        sandbox = bool(getattr(self._exchange, "isSandboxModeEnabled", False))
        return f"CcxtBroker(name={self.name!r}, exchange={self.exchange_id!r}, sandbox={sandbox})"

    @property
    def api_urls(self) -> Any:
        """ccxt's ``urls["api"]`` as requests will use them (after sandbox and overrides)."""
        return self._exchange.urls.get("api")

    # -- errors and retries ---------------------------------------------------------------------------------
    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _raise(self, error: type[Exception], message: str, cause: BaseException) -> Exception:
        """``error(message)`` with credentials removed, chained to ``cause`` only when its text is clean too."""
        exc = error(self._clean(message))
        exc.__cause__ = cause if self._clean(str(cause)) == str(cause) else None
        exc.__suppress_context__ = True
        return exc

    async def _call(
        self,
        what: str,
        fn: Callable[[], Awaitable[T]],
        before_retry: Callable[[], Awaitable[T | None]] | None = None,
    ) -> T:
        """``fn()`` with temporary failures retried; other ccxt errors propagate untranslated. Before each retry
        ``before_retry()`` runs first, and what it returns (when not None) is the result."""
        attempt = 0
        while True:
            try:
                if attempt and before_retry is not None:
                    found = await before_retry()
                    if found is not None:
                        return found
                return await fn()
            except ccxt.OperationFailed as exc:
                detail = venue_message(exc)
                if attempt >= self._retries:
                    err = self._raise(
                        ExchangeUnavailableError,
                        f"{self.name}: {what} failed after {attempt + 1} attempts "
                        f"({type(exc).__name__}): {detail}",
                        exc,
                    )
                    raise err from err.__cause__
                delay = self._backoff_s * 2**attempt
                logger.warning(
                    self._clean(
                        f"{self.name}: {what}: {type(exc).__name__} ({detail}); retry in {delay:.2f}s"
                    )
                )
                await asyncio.sleep(delay)
                attempt += 1

    def _translate(self, exc: ccxt.BaseError, what: str, *, placing: bool = False) -> Exception:
        detail = venue_message(exc)
        refused = isinstance(exc, ccxt.InsufficientFunds | ccxt.InvalidOrder | ccxt.BadRequest)
        if placing and refused and not isinstance(exc, ccxt.BadSymbol):
            return self._raise(OrderRejectedError, f"{self.name} rejected {what}: {detail}", exc)
        if isinstance(exc, ccxt.AuthenticationError):
            return self._raise(ExchangeError, f"{self.name}: {what}: authentication failed: {detail}", exc)
        if isinstance(exc, ccxt.BadSymbol):
            return self._raise(ExchangeError, f"{self.name}: {what}: unknown symbol: {detail}", exc)
        return self._raise(ExchangeError, f"{self.name}: {what}: {type(exc).__name__}: {detail}", exc)

    async def _run(self, what: str, fn: Callable[[], Awaitable[T]], *, placing: bool = False) -> T:
        try:
            return await self._call(what, fn)
        except ccxt.BaseError as exc:
            err = self._translate(exc, what, placing=placing)
            raise err from err.__cause__

    async def _market(self, symbol: str) -> Mapping[str, Any]:
        await self._run("load markets", self._exchange.load_markets)
        market = (self._exchange.markets or {}).get(symbol)
        if market is None:
            raise ExchangeError(
                f"{self.name} has no market {symbol!r} (symbols are BASE/QUOTE, e.g. BTC/USDT)"
            )
        return market

    # -- the Broker port --------------------------------------------------------------------------------------
    async def market_rules(self, symbol: str) -> MarketRules:
        """Tick, lot, minimum quantity and notional of ``symbol`` from the venue's markets (loaded once).

        Raises:
            ExchangeError: unknown symbol, bad credentials. ExchangeUnavailableError: venue unreachable.
        """
        return rules_from_market(await self._market(symbol), self._exchange.precisionMode)

    async def place(self, request: OrderRequest) -> BrokerOrder:
        """Send ``request`` (already prepared by :func:`tsbot.trading.orders.prepare_order`).

        Returns the venue's acknowledgement; a market order usually comes back FILLED with its fills. A client
        order id the venue already knows returns that order instead of opening a second one.

        Raises:
            OrderRejectedError: the venue refused the order (its message in ``reason``).
            ExchangeUnavailableError: still failing after the retries. ExchangeError: other refusals.
        """
        await self._market(request.symbol)
        cid, symbol = request.client_order_id, request.symbol
        # Kraken accepts a cl_ord_id again once its order closed: look before sending, and before resending
        if self.exchange_id == "kraken" and (known := await self.fetch_order(cid, symbol)) is not None:
            logger.info("%s: %s already known to the venue; returning it", self.name, cid)
            return known
        ccxt_type, price, params = order_params(self.exchange_id, request, self._venue_cid(cid))
        what = f"order {cid} ({request.side.value} {request.qty:f} {symbol} {request.order_type.value})"
        try:
            data = await self._call(
                f"place {what}",
                lambda: self._exchange.create_order(
                    symbol, ccxt_type, request.side.value, f"{request.qty:f}", price, dict(params)
                ),
                (lambda: self._lookup(cid, symbol)) if self.exchange_id != "binance" else None,
            )
        except ccxt.BaseError as exc:
            if is_duplicate(exc):
                existing = await self.fetch_order(cid, request.symbol)
                if existing is not None:
                    logger.info("%s: %s already known to the venue; returning it", self.name, cid)
                    return existing
            err = self._translate(exc, what, placing=True)
            raise err from err.__cause__
        if data.get("id"):
            self._venue_ids[cid] = str(data["id"])
        if data.get("status") is None or data.get("amount") is None:
            fetched = await self.fetch_order(cid, request.symbol)
            if fetched is not None:
                return fetched
        return order_from_ccxt(self._ours(data), symbol=symbol, client_order_id=cid, request=request)

    def _venue_cid(self, client_order_id: str) -> str:
        venue = venue_client_id(self.exchange_id, client_order_id)
        if venue != client_order_id:
            self._our_ids[venue] = client_order_id
        return venue

    def _ours(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the venue's client id replaced by ours where we know it."""
        ours = self._our_ids.get(str(data.get("clientOrderId")))
        return {**data, "clientOrderId": ours} if ours else data

    async def _lookup(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        ex = self._exchange
        venue_cid = self._venue_cid(client_order_id)
        if self.exchange_id == "binance":
            try:
                return await ex.fetch_order("", symbol, {"origClientOrderId": client_order_id})
            except ccxt.OrderNotFound:
                return None
        venue_id = self._venue_ids.get(client_order_id)
        if venue_id is not None:
            try:
                return self._ours(await ex.fetch_order(venue_id, symbol))
            except ccxt.OrderNotFound:
                return None
        if self.exchange_id == "kraken":  # open and closed orders filter by cl_ord_id
            fetchers, params = (ex.fetch_open_orders, ex.fetch_closed_orders), {"clientOrderId": venue_cid}
        else:  # Coinbase: the open ones, then the latest 100 of the symbol in any status
            fetchers, params = (ex.fetch_open_orders, ex.fetch_orders), {}
        for fetch in fetchers:
            for data in await fetch(symbol, None, None, dict(params)):
                if data.get("clientOrderId") == venue_cid:
                    return self._ours(data)
        return None

    async def _with_fills(self, data: dict[str, Any], symbol: str) -> dict[str, Any]:
        """``data`` with its trades: fetched when the order has fills but came without them, or (Kraken) with
        their ids only."""
        filled = dec(data.get("filled")) or Decimal(0)
        if filled <= 0 or not data.get("id") or not self._exchange.has.get("fetchOrderTrades"):
            return data
        trades = data.get("trades") or []
        stub_ids = [t["id"] for t in trades if t.get("amount") is None and t.get("id")]
        if not stub_ids and (trades or self.exchange_id == "kraken"):
            return data  # complete already, or Kraken without trade ids to ask for
        params = {"trades": stub_ids} if stub_ids else {}
        return {
            **data,
            "trades": await self._exchange.fetch_order_trades(data["id"], symbol, None, None, params),
        }

    async def fetch_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        """The order with our client id (with its fills where the venue lists them), or None when the venue
        has never seen it.

        Raises:
            ExchangeUnavailableError: still failing after the retries. ExchangeError: other refusals.
        """
        await self._market(symbol)
        what = f"fetch order {client_order_id}"

        async def fetch() -> dict[str, Any] | None:
            data = await self._lookup(client_order_id, symbol)
            return None if data is None else await self._with_fills(data, symbol)

        data = await self._run(what, fetch)
        if data is None:
            return None
        if data.get("id"):
            self._venue_ids[client_order_id] = str(data["id"])
        return order_from_ccxt(data, symbol=symbol, client_order_id=client_order_id)

    async def cancel(self, client_order_id: str, symbol: str) -> BrokerOrder:
        """Cancel a working order and return it as the venue then reports it; a final order comes back
        unchanged.

        Raises:
            ExchangeError: the venue has no order with this client id. ExchangeUnavailableError: as above.
        """
        current = await self.fetch_order(client_order_id, symbol)
        if current is None:
            raise ExchangeError(f"{self.name} has no order with client id {client_order_id} on {symbol}")
        if current.status.final:
            return current
        try:
            await self._call(
                f"cancel order {client_order_id}",
                lambda: self._exchange.cancel_order(current.broker_order_id, symbol),
            )
        except ccxt.OrderNotFound:
            logger.info("%s: %s finished before it could be cancelled", self.name, client_order_id)
        except ccxt.BaseError as exc:
            err = self._translate(exc, f"cancel order {client_order_id}")
            raise err from err.__cause__
        after = await self.fetch_order(client_order_id, symbol)
        return after if after is not None else current

    async def open_orders(self, symbol: str | None = None) -> list[BrokerOrder]:
        """Working orders (OPEN / PARTIALLY_FILLED) of ``symbol``, or of every symbol when None."""
        if symbol is not None:
            await self._market(symbol)
        else:
            await self._run("load markets", self._exchange.load_markets)
        rows = await self._run("fetch open orders", lambda: self._exchange.fetch_open_orders(symbol))
        orders = [order_from_ccxt(self._ours(row), symbol=row.get("symbol") or symbol or "") for row in rows]
        return [o for o in orders if o.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)]

    async def balances(self) -> list[Balance]:
        """Balances with a non-zero total, sorted by asset: ``free`` spendable, ``locked`` held by orders."""
        data = await self._run("fetch balance", self._exchange.fetch_balance)
        out = []
        for asset, total in sorted((data.get("total") or {}).items()):
            free = dec((data.get("free") or {}).get(asset)) or Decimal(0)
            locked = dec((data.get("used") or {}).get(asset)) or Decimal(0)
            if (dec(total) or Decimal(0)) != 0 or free + locked != 0:
                out.append(Balance(asset=asset, free=free, locked=locked))
        return out

    async def positions(self) -> list[BrokerPosition]:
        """Spot accounts hold balances, not positions: always empty."""
        return []

    async def close(self) -> None:
        """Close the HTTP session. Safe to call more than once."""
        await self._exchange.close()
