"""A stateful local server shaped like Alpaca's trading API (``/v2``), for broker tests through alpaca-py.

It runs on the thread-hosted aiohttp server of :mod:`tests.support.exchange_servers` (``127.0.0.1``, a free port)
and keeps an account: cash, assets, orders and positions. Answers use Alpaca's JSON shapes (numbers as text, times
as ISO-8601 UTC with ``Z``) and its error shape ``{"code": ..., "message": ...}``.

Behaviour: a market order fills at once at the symbol's price (:meth:`FakeAlpaca.set_price`) and is answered
``filled`` (with ``fill_market = False`` it rests ``accepted`` until :meth:`FakeAlpaca.fill`); limit and stop
orders rest as ``new``. A buy worth more than the cash answers 403 "insufficient buying power"; a reused
``client_order_id`` answers 422 "client_order_id must be unique"; a request without the configured key headers
answers 401.

Faults: ``fail(path, nth, Fault.RATE_LIMIT)`` makes the ``nth`` request (1-based) to ``path`` (of ``method``
only, when given) answer 429; ``Fault.SERVER_ERROR`` answers 500; ``Fault.STALL`` waits ``stall_s`` seconds and
then answers normally (a stalled order is still placed, as at a real venue). ``requests`` logs
``(method, path, query or JSON body)`` of every request.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.support.exchange_servers import Fault, _Server

__all__ = ["Fault", "FakeAlpaca"]

_OPEN = ("new", "accepted", "pending_new", "partially_filled")
_CENT = Decimal("0.01")


def _now() -> str:
    """Now as Alpaca writes times: ISO-8601 UTC with nanoseconds and ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


def _error(status: int, code: int, message: str, **extra: str) -> web.Response:
    return web.json_response({"code": code, "message": message, **extra}, status=status)


class FakeAlpaca(_Server):
    """Alpaca trading API double with state and fault injection.

    Args:
        api_key, secret: the credentials it accepts (``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers).
        cash: starting cash, USD.
        stall_s: how long a STALL fault waits, seconds (longer than the client's timeout).
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-key-id",
        secret: str = "fake-secret",
        cash: Decimal = Decimal("100000"),
        stall_s: float = 2.0,
    ) -> None:
        super().__init__(stall_s=stall_s)
        self.api_key = api_key
        self.secret = secret
        self.cash = cash
        self.fill_market = True
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.assets: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, Decimal] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}
        self._by_client: dict[str, str] = {}
        self._counts: Counter[tuple[str | None, str]] = Counter()
        self._faults: dict[tuple[str | None, str, int], Fault] = {}
        self._lock = threading.RLock()
        self.add_asset("AAPL", price=Decimal("187.50"), fractionable=True, shortable=True)
        self.add_asset("BRK.A", price=Decimal("612000"), fractionable=False, shortable=False)
        self.add_asset("SNDL", price=Decimal("0.8421"), fractionable=False, shortable=True)

    # -- controls --------------------------------------------------------------------------------------------
    def add_asset(
        self, symbol: str, *, price: Decimal, fractionable: bool, shortable: bool, tradable: bool = True
    ) -> None:
        """Serve ``symbol`` (a bare ticker) as a US equity at ``price`` USD."""
        with self._lock:
            self.assets[symbol] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-asset:{symbol}")),
                "class": "us_equity",
                "exchange": "NASDAQ",
                "symbol": symbol,
                "name": f"{symbol} Common Stock",
                "status": "active" if tradable else "inactive",
                "tradable": tradable,
                "marginable": True,
                "maintenance_margin_requirement": 30,
                "margin_requirement_long": "30",
                "margin_requirement_short": "30",
                "shortable": shortable,
                "easy_to_borrow": shortable,
                "fractionable": fractionable,
                "attributes": ["fractional_eh_enabled"] if fractionable else [],
            }
            self.prices[symbol] = price

    def set_price(self, symbol: str, price: Decimal) -> None:
        """The price (USD) market orders of ``symbol`` fill at."""
        with self._lock:
            self.prices[symbol] = price

    def fill(
        self, client_order_id: str, qty: Decimal | None = None, price: Decimal | None = None
    ) -> dict[str, Any]:
        """Execute ``qty`` more shares (None: all that remain) of a working order at ``price`` (default: its
        limit price, else the symbol's price); the order becomes ``partially_filled`` or ``filled``. Returns the
        order JSON."""
        with self._lock:
            order = self.orders[self._by_client[client_order_id]]
            if order["status"] not in _OPEN:
                raise ValueError(f"order {client_order_id} is {order['status']}, not working")
            remaining = Decimal(order["qty"]) - Decimal(order["filled_qty"])
            self._execute(order, remaining if qty is None else qty, price)
            return dict(order)

    def set_status(self, client_order_id: str, status: str) -> None:
        """Put an order in any Alpaca status (``done_for_day``, ``pending_cancel``, ``rejected`` ...)."""
        with self._lock:
            order = self.orders[self._by_client[client_order_id]]
            order["status"] = status
            order["updated_at"] = _now()

    def fail(self, path: str, nth: int, kind: Fault, *, method: str | None = None) -> None:
        """Make the ``nth`` request (1-based, since start) to ``path`` (of ``method`` only, when given) misbehave
        as ``kind``."""
        with self._lock:
            self._faults[(method.upper() if method else None, path, nth)] = kind

    def count(self, path: str, method: str | None = None) -> int:
        """Requests received for ``path`` (of ``method`` only, when given)."""
        with self._lock:
            return self._counts[(method.upper() if method else None, path)]

    def order(self, client_order_id: str) -> dict[str, Any]:
        """The stored order JSON of a client id."""
        with self._lock:
            return dict(self.orders[self._by_client[client_order_id]])

    # -- lifecycle (start / stop / context manager from _Server) ---------------------------------------------
    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/account", self._account)
        app.router.add_get("/v2/assets/{symbol}", self._asset)
        app.router.add_post("/v2/orders", self._submit)
        app.router.add_get("/v2/orders", self._list_orders)
        app.router.add_get("/v2/orders:by_client_order_id", self._by_client_id)
        app.router.add_get("/v2/orders/{order_id}", self._get_order)
        app.router.add_delete("/v2/orders/{order_id}", self._cancel)
        app.router.add_get("/v2/positions", self._positions)

    def _rate_limited(self) -> web.Response:
        return _error(429, 42910000, "rate limit exceeded")

    def _server_error(self) -> web.Response:
        return _error(500, 50010000, "internal server error occurred")

    # -- request handling ------------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path, method = request.path, request.method
        body: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            body = await request.json()
        with self._lock:
            self.requests.append((method, path, body))
            self._counts[(None, path)] += 1
            self._counts[(method, path)] += 1
            fault = (
                self._always
                or self._faults.get((None, path, self._counts[(None, path)]))
                or self._faults.get((method, path, self._counts[(method, path)]))
            )
        if fault is Fault.RATE_LIMIT:
            return self._rate_limited()
        if fault is Fault.SERVER_ERROR:
            return self._server_error()
        if fault is Fault.STALL:
            await asyncio.sleep(self.stall_s)
        key = request.headers.get("APCA-API-KEY-ID")
        secret = request.headers.get("APCA-API-SECRET-KEY")
        if key != self.api_key or secret != self.secret:
            return _error(401, 40110000, "request is not authorized")
        return await handler(request)

    async def _account(self, request: web.Request) -> web.Response:
        with self._lock:
            cash = self.cash
            long_value = sum(
                (q * self.prices[s] for s, (q, _) in self.positions.items() if q > 0), start=Decimal(0)
            )
            short_value = sum(
                (q * self.prices[s] for s, (q, _) in self.positions.items() if q < 0), start=Decimal(0)
            )
        equity = cash + long_value + short_value
        money = {k: _num(cash) for k in ("buying_power", "regt_buying_power", "effective_buying_power")}
        money |= {k: _num(cash) for k in ("non_marginable_buying_power", "options_buying_power", "cash")}
        zero = dict.fromkeys(
            ("daytrading_buying_power", "bod_dtbp", "accrued_fees", "pending_transfer_in"), "0"
        )
        zero |= dict.fromkeys(("initial_margin", "maintenance_margin", "last_maintenance_margin", "sma"), "0")
        zero |= dict.fromkeys(("intraday_adjustments", "pending_reg_taf_fees"), "0")
        flags = dict.fromkeys(("pattern_day_trader", "trading_blocked", "transfers_blocked"), False)
        flags |= dict.fromkeys(("account_blocked", "trade_suspended_by_user"), False)
        return web.json_response(
            {
                "id": "e6fe16f3-64a4-4921-8928-cadf02f92f98",
                "account_number": "PA3A7ZJ9BQ1N",
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                **money,
                **zero,
                **flags,
                "portfolio_value": _num(equity),
                "equity": _num(equity),
                "last_equity": _num(equity),
                "long_market_value": _num(long_value),
                "short_market_value": _num(short_value),
                "position_market_value": _num(long_value - short_value),
                "created_at": "2024-01-02T15:04:05.123456Z",
                "multiplier": "1",
                "shorting_enabled": True,
                "daytrade_count": 0,
                "balance_asof": datetime.now(UTC).date().isoformat(),
                "crypto_tier": 1,
                "options_trading_level": 0,
            }
        )

    async def _asset(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        with self._lock:
            asset = self.assets.get(symbol)
        if asset is None:
            return _error(404, 40410000, f"asset not found for {symbol}")
        return web.json_response(asset)

    async def _submit(self, request: web.Request) -> web.Response:
        data = await request.json()
        with self._lock:
            refusal = self._refusal(data)
            if refusal is not None:
                return refusal
            order = self._new_order(data)
            if order["type"] == "market" and self.fill_market:
                self._execute(order, Decimal(order["qty"]), None)
            return web.json_response(dict(order))

    def _refusal(self, data: dict[str, Any]) -> web.Response | None:
        """Alpaca's answer to an order it refuses, or None when it takes it."""
        client_id = str(data.get("client_order_id") or "")
        if client_id and client_id in self._by_client:
            return _error(422, 40010001, "client_order_id must be unique")
        symbol = str(data.get("symbol", ""))
        asset = self.assets.get(symbol)
        if asset is None:
            return _error(422, 40010001, f'asset "{symbol}" not found')
        kind = data.get("type")
        if kind not in ("market", "limit", "stop", "stop_limit"):
            return _error(422, 40010001, f"invalid order type: {kind}")
        if data.get("time_in_force") not in ("day", "gtc", "ioc", "fok", "opg", "cls"):
            return _error(422, 40010001, "invalid time_in_force")
        qty = Decimal(str(data.get("qty", "0")))
        if qty <= 0:
            return _error(422, 40010001, "qty must be > 0")
        if qty != qty.to_integral_value():
            if not asset["fractionable"]:
                return _error(422, 40010001, f"requested asset is not fractionable: {symbol}")
            if kind != "market" or data.get("time_in_force") != "day":
                return _error(422, 40010001, "fractional orders must be market orders and DAY orders")
        for field in ("limit_price", "stop_price"):
            needed = field == "limit_price" and kind in ("limit", "stop_limit")
            needed = needed or (field == "stop_price" and kind in ("stop", "stop_limit"))
            if needed and data.get(field) is None:
                return _error(422, 40010001, f"{field} is required for {kind} orders")
            if data.get(field) is not None:
                value = Decimal(str(data[field]))
                if value >= 1 and value != value.quantize(_CENT):
                    return _error(
                        422, 42210000, "sub-penny increment does not fulfill minimum pricing criteria"
                    )
        price = Decimal(str(data.get("limit_price") or data.get("stop_price") or self.prices[symbol]))
        held, _ = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        if data.get("side") == "buy" and qty * price > self.cash:
            return _error(
                403,
                40310000,
                "insufficient buying power",
                buying_power=_num(self.cash),
                cost_basis=_num(qty * price),
            )
        if data.get("side") == "sell" and qty > max(held, Decimal(0)) and not asset["shortable"]:
            return _error(
                403,
                40310000,
                f"insufficient qty available for order (requested: {_num(qty)}, available: {_num(max(held, 0))})",
                symbol=symbol,
            )
        return None

    def _new_order(self, data: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        order_id = str(uuid.uuid4())
        client_id = str(data.get("client_order_id") or uuid.uuid4())
        kind = str(data["type"])
        order = {
            "id": order_id,
            "client_order_id": client_id,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            **dict.fromkeys(("filled_at", "expired_at", "canceled_at", "failed_at", "replaced_at"), None),
            **dict.fromkeys(("replaced_by", "replaces", "notional", "filled_avg_price", "legs"), None),
            **dict.fromkeys(("trail_percent", "trail_price", "hwm", "subtag", "source", "expires_at"), None),
            "asset_id": self.assets[data["symbol"]]["id"],
            "symbol": data["symbol"],
            "asset_class": "us_equity",
            "qty": _num(Decimal(str(data["qty"]))),
            "filled_qty": "0",
            "order_class": "",
            "order_type": kind,
            "type": kind,
            "side": data["side"],
            "position_intent": "buy_to_open" if data["side"] == "buy" else "sell_to_close",
            "time_in_force": data["time_in_force"],
            "limit_price": _num(Decimal(str(data["limit_price"]))) if data.get("limit_price") else None,
            "stop_price": _num(Decimal(str(data["stop_price"]))) if data.get("stop_price") else None,
            "status": "accepted" if kind == "market" else "new",
            "extended_hours": False,
        }
        self.orders[order_id] = order
        self._by_client[client_id] = order_id
        return order

    def _execute(self, order: dict[str, Any], qty: Decimal, price: Decimal | None) -> None:
        """Fill ``qty`` shares of ``order`` and book cash and position (call with the lock held)."""
        symbol = order["symbol"]
        if price is None:
            price = Decimal(order["limit_price"]) if order["limit_price"] else self.prices[symbol]
        done = Decimal(order["filled_qty"])
        total = done + qty
        if qty <= 0 or total > Decimal(order["qty"]):
            raise ValueError(
                f"cannot fill {qty} of order {order['client_order_id']} ({done} of {order['qty']} done)"
            )
        previous = Decimal(order["filled_avg_price"]) if order["filled_avg_price"] else Decimal(0)
        order["filled_avg_price"] = _num((previous * done + price * qty) / total)
        order["filled_qty"] = _num(total)
        now = _now()
        order["updated_at"] = now
        if total == Decimal(order["qty"]):
            order["status"] = "filled"
            order["filled_at"] = now
        else:
            order["status"] = "partially_filled"
        signed = qty if order["side"] == "buy" else -qty
        self.cash -= signed * price
        held, entry = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        new = held + signed
        if new == 0:
            self.positions.pop(symbol, None)
            return
        if held == 0 or (held > 0) != (new > 0):
            entry = price  # opened, or flipped through zero
        elif abs(new) > abs(held):
            entry = (entry * abs(held) + price * qty) / abs(new)
        self.positions[symbol] = (new, entry)

    async def _list_orders(self, request: web.Request) -> web.Response:
        q = request.query
        status = q.get("status", "open")
        symbols = set(q["symbols"].split(",")) if q.get("symbols") else None
        with self._lock:
            rows = [dict(o) for o in self.orders.values()]
        if status == "open":
            rows = [o for o in rows if o["status"] in _OPEN]
        elif status == "closed":
            rows = [o for o in rows if o["status"] not in _OPEN]
        if symbols is not None:
            rows = [o for o in rows if o["symbol"] in symbols]
        rows.sort(key=lambda o: o["submitted_at"], reverse=q.get("direction", "desc") == "desc")
        return web.json_response(rows[: int(q.get("limit", 50))])

    async def _by_client_id(self, request: web.Request) -> web.Response:
        client_id = request.query.get("client_order_id", "")
        with self._lock:
            order_id = self._by_client.get(client_id)
            order = dict(self.orders[order_id]) if order_id else None
        if order is None:
            return _error(404, 40410000, "order not found")
        return web.json_response(order)

    async def _get_order(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        with self._lock:
            order = self.orders.get(order_id)
            order = dict(order) if order else None
        if order is None:
            return _error(404, 40410000, f"order not found for {order_id}")
        return web.json_response(order)

    async def _cancel(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        with self._lock:
            order = self.orders.get(order_id)
            if order is None:
                return _error(404, 40410000, f"order not found for {order_id}")
            if order["status"] not in _OPEN:
                return _error(422, 42210000, f'order is already in "{order["status"]}" state')
            now = _now()
            order["status"] = "canceled"
            order["canceled_at"] = now
            order["updated_at"] = now
        return web.Response(status=204)

    async def _positions(self, request: web.Request) -> web.Response:
        with self._lock:
            rows = []
            for symbol, (qty, entry) in sorted(self.positions.items()):
                price = self.prices[symbol]
                rows.append(
                    {
                        "asset_id": self.assets[symbol]["id"],
                        "symbol": symbol,
                        "exchange": "NASDAQ",
                        "asset_class": "us_equity",
                        "asset_marginable": True,
                        "qty": _num(qty),
                        "qty_available": _num(qty),
                        "avg_entry_price": _num(entry),
                        "side": "long" if qty > 0 else "short",
                        "market_value": _num(qty * price),
                        "cost_basis": _num(qty * entry),
                        "unrealized_pl": _num(qty * (price - entry)),
                        "unrealized_plpc": _num((price - entry) / entry) if entry else "0",
                        "unrealized_intraday_pl": _num(qty * (price - entry)),
                        "unrealized_intraday_plpc": _num((price - entry) / entry) if entry else "0",
                        "current_price": _num(price),
                        "lastday_price": _num(price),
                        "change_today": "0",
                    }
                )
        return web.json_response(rows)
