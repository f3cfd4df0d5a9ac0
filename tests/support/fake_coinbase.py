"""A stateful local server shaped like Coinbase's Advanced Trade REST API (``/api/v3/brokerage``), for trading
through ccxt's ``coinbase`` class.

Public: ``GET market/products`` (what ccxt's ``load_markets`` reads; ``product_type=FUTURE`` lists none).
Private, with ``Authorization: Bearer <JWT>`` (an ES256 token whose ``kid`` and ``sub`` name the API key and whose
``uri`` names this request; its signature is checked when a ``public_key`` is given): ``transaction_summary``,
``accounts``, ``POST orders``, ``orders/historical/batch``, ``orders/historical/{order_id}``,
``POST orders/batch_cancel``. Without a valid token the answer is HTTP 401 ``Unauthorized`` (plain text).

A market order (``market_market_ioc`` by ``base_size``, or ``quote_size`` for a buy) fills at once at the product's
price (:meth:`FakeCoinbase.set_price`) with the 0.6 % taker fee in the quote currency; ``limit_limit_gtc`` fills at
once when marketable, else rests OPEN until :meth:`FakeCoinbase.fill` (0.4 % maker fee). A ``client_order_id``
already used places nothing and answers with the order it names, as Advanced Trade documents. Insufficient funds
answer ``success: false`` with ``INSUFFICIENT_FUND`` / "Insufficient balance in source account".

Faults (see :mod:`tests.support.fake_venue`): RATE_LIMIT answers HTTP 429 with the gateway's HTML page (what
Coinbase sends there, not JSON), SERVER_ERROR HTTP 503 in plain text, STALL waits ``stall_s`` first.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.support.exchange_servers import Fault
from tests.support.fake_venue import PARAMS, FakeVenue

API = "/api/v3/brokerage"
TAKER, MAKER = Decimal("0.006"), Decimal("0.004")
USER_ID = "3a8c9e51-7e0f-5c7a-9a43-5f1d0c3e2b71"
PORTFOLIO_ID = "b1e2c3d4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
#: Advanced Trade's own product entries for the two markets served (the fields ccxt reads, and a few more).
PRODUCTS: dict[str, dict[str, str]] = {
    "BTC-USD": {"base_currency_id": "BTC", "quote_currency_id": "USD", "base_name": "Bitcoin",
                "base_increment": "0.00000001", "quote_increment": "0.01", "price_increment": "0.01",
                "base_min_size": "0.00000001", "base_max_size": "3400", "quote_min_size": "1",
                "quote_max_size": "150000000"},
    "ETH-USD": {"base_currency_id": "ETH", "quote_currency_id": "USD", "base_name": "Ethereum",
                "base_increment": "0.00000001", "quote_increment": "0.01", "price_increment": "0.01",
                "base_min_size": "0.00000001", "base_max_size": "38000", "quote_min_size": "1",
                "quote_max_size": "150000000"},
}  # fmt: skip
_RATE_LIMIT_PAGE = (
    "<html>\n  <head>\n    <title>Coinbase</title>\n  </head>\n  <body>Too Many Requests</body>\n</html>"
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeCoinbase(FakeVenue):
    """Coinbase Advanced Trade spot in memory, on ``127.0.0.1`` (a context manager). ``prices`` by product
    (``"BTC-USD"``), ``balances`` by currency as ``[available, hold]``, in Decimal. ``public_key``: the EC key
    whose private half signs the JWTs; given, every signature is verified."""

    def __init__(
        self,
        *,
        port: int = 0,
        api_key: str | None = None,
        public_key: ec.EllipticCurvePublicKey | None = None,
        stall_s: float = 2.0,
    ) -> None:
        super().__init__(port=port, api_key=api_key, stall_s=stall_s)
        self.public_key = public_key
        self.prices = {"BTC-USD": Decimal("60000.00"), "ETH-USD": Decimal("3000.00")}
        self.balances = {
            "USD": [Decimal("10000"), Decimal(0)],
            "BTC": [Decimal("0.5"), Decimal(0)],
            "ETH": [Decimal(0), Decimal(0)],
        }
        self.orders: dict[str, dict[str, Any]] = {}
        self.auth_failures: list[str] = []

    # -- controls -----------------------------------------------------------------------------------------
    @property
    def api_urls(self) -> dict[str, str]:
        """``urls["api"]`` entries that point ccxt's coinbase at this server."""
        return {"rest": self.base_url}

    def set_price(self, symbol: str, price: Decimal | str) -> None:
        """The price market orders of ``symbol`` (``"BTC/USD"`` or ``"BTC-USD"``) fill at."""
        with self._lock:
            self.prices[symbol.replace("/", "-")] = Decimal(str(price))

    def with_client_id(self, client_order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o for o in self.orders.values() if o["client_order_id"] == client_order_id]

    def fill(self, client_order_id: str, qty: Decimal | str) -> None:
        """Execute ``qty`` of the OPEN order with this client id at its limit price, as a maker."""
        with self._lock:
            order = next(o for o in self.with_client_id(client_order_id) if o["status"] == "OPEN")
            limit = Decimal(order["order_configuration"]["limit_limit_gtc"]["limit_price"])
            self._execute(order, Decimal(str(qty)), limit, maker=True)

    # -- serving -------------------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(API + "/market/products", self._products)
        app.router.add_get(API + "/transaction_summary", self._transaction_summary)
        app.router.add_get(API + "/accounts", self._accounts)
        app.router.add_post(API + "/orders", self._create_order)
        app.router.add_post(API + "/orders/batch_cancel", self._batch_cancel)
        app.router.add_get(API + "/orders/historical/batch", self._list_orders)
        app.router.add_get(API + "/orders/historical/{order_id}", self._get_order)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            params.update(json.loads(await request.text() or "{}"))
        request[PARAMS] = params
        fault = self._record(request.method, request.path, params)
        if fault is Fault.RATE_LIMIT:
            return web.Response(status=429, text=_RATE_LIMIT_PAGE, content_type="text/html")
        if fault is Fault.SERVER_ERROR:
            return web.Response(status=503, text="upstream connect error or disconnect/reset before headers")
        if fault is Fault.STALL:
            await asyncio.sleep(self.stall_s)
        if not request.path.startswith(API + "/market/"):
            problem = self._auth_problem(request)
            if problem is not None:
                with self._lock:
                    self.auth_failures.append(problem)
                return web.Response(status=401, text="Unauthorized\n")
        return await handler(request)

    def _auth_problem(self, request: web.Request) -> str | None:
        """Why the request's bearer token is not acceptable, or None."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.count(".") != 2:
            return "no bearer JWT"
        head_b64, body_b64, sig_b64 = auth[len("Bearer ") :].split(".")
        head, body = json.loads(_b64(head_b64)), json.loads(_b64(body_b64))
        if head.get("alg") != "ES256" or head.get("kid") != body.get("sub"):
            return f"bad JWT header {head}"
        if self.api_key is not None and body.get("sub") != self.api_key:
            return "unknown API key"
        if body.get("uri") != f"{request.method} {request.url.scheme}://{request.host}{request.path}":
            return f"JWT for {body.get('uri')!r}, not this request"
        if not body.get("nbf", 0) - 5 <= time.time() < body.get("exp", 0):
            return "JWT expired"
        if self.public_key is not None:
            raw = _b64(sig_b64)
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            try:
                self.public_key.verify(der, f"{head_b64}.{body_b64}".encode(), ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                return "bad JWT signature"
        return None

    async def _products(self, request: web.Request) -> web.Response:
        if request.query.get("product_type", "SPOT") != "SPOT":
            return web.json_response({"products": [], "num_products": 0})
        with self._lock:
            rows = [
                {"product_id": pid, "price": f"{self.prices[pid]:f}", "price_percentage_change_24h": "1.2",
                 "volume_24h": "10967.87426597", "volume_percentage_change_24h": "-3.5", "quote_name": "US Dollar",
                 "watched": False, "is_disabled": False, "new": False, "status": "online", "cancel_only": False,
                 "limit_only": False, "post_only": False, "trading_disabled": False, "auction_mode": False,
                 "product_type": "SPOT", "fcm_trading_session_details": None, "mid_market_price": "",
                 "alias": "", "alias_to": [], "base_display_symbol": p["base_currency_id"],
                 "quote_display_symbol": p["quote_currency_id"], "view_only": False, "display_name": pid,
                 "product_venue": "CBE", **p}
                for pid, p in PRODUCTS.items()
            ]  # fmt: skip
        return web.json_response({"products": rows, "num_products": len(rows)})

    async def _transaction_summary(self, request: web.Request) -> web.Response:
        tier = {"pricing_tier": "Advanced 1", "usd_from": "0", "usd_to": "1000", "taker_fee_rate": f"{TAKER}",
                "maker_fee_rate": f"{MAKER}", "aop_from": "", "aop_to": ""}  # fmt: skip
        return web.json_response(
            {"total_volume": 0, "total_fees": 0, "fee_tier": tier, "margin_rate": None,
             "goods_and_services_tax": None, "advanced_trade_only_volume": 0, "advanced_trade_only_fees": 0,
             "coinbase_pro_volume": 0, "coinbase_pro_fees": 0, "total_balance": "", "has_promo_fee": False}
        )  # fmt: skip

    async def _accounts(self, request: web.Request) -> web.Response:
        with self._lock:
            rows = [
                {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, cur)), "name": f"{cur} Wallet", "currency": cur,
                 "available_balance": {"value": f"{free:f}", "currency": cur}, "default": cur == "USD",
                 "active": True, "created_at": "2021-05-31T09:59:59.000Z", "updated_at": _iso(time.time()),
                 "deleted_at": None, "type": "ACCOUNT_TYPE_FIAT" if cur == "USD" else "ACCOUNT_TYPE_CRYPTO",
                 "ready": True, "hold": {"value": f"{hold:f}", "currency": cur}, "retail_portfolio_id": PORTFOLIO_ID}
                for cur, (free, hold) in self.balances.items()
            ]  # fmt: skip
        return web.json_response({"accounts": rows, "has_next": False, "cursor": "", "size": len(rows)})

    # -- order book keeping (call with the lock held) --------------------------------------------------------
    def _execute(self, order: dict[str, Any], qty: Decimal, price: Decimal, *, maker: bool) -> None:
        product = PRODUCTS[order["product_id"]]
        base, quote = product["base_currency_id"], product["quote_currency_id"]
        value = qty * price
        fee = (value * (MAKER if maker else TAKER)).quantize(Decimal("0.0000000001"))
        if order["side"] == "BUY":
            if maker:
                held = qty * Decimal(order["order_configuration"]["limit_limit_gtc"]["limit_price"])
                self.balances[quote][1] -= held
                self.balances[quote][0] += held
            self.balances[quote][0] -= value + fee
            self.balances[base][0] += qty
        else:
            self.balances[base][1 if maker else 0] -= qty
            self.balances[quote][0] += value - fee
        filled = Decimal(order["filled_size"]) + qty
        filled_value = Decimal(order["filled_value"]) + value
        fees = Decimal(order["total_fees"]) + fee
        size = Decimal(order["_size"])
        order.update(
            filled_size=f"{filled:f}", filled_value=f"{filled_value:f}", total_fees=f"{fees:f}",
            average_filled_price=f"{filled_value / filled:f}", number_of_fills=str(int(order["number_of_fills"]) + 1),
            completion_percentage=f"{(filled / size * 100).quantize(Decimal('0.01')):f}",
            total_value_after_fees=f"{filled_value + fees if order['side'] == 'BUY' else filled_value - fees:f}",
            last_fill_time=_iso(time.time()),
        )  # fmt: skip
        if filled >= size:
            order.update(status="FILLED", settled=True, outstanding_hold_amount="0")

    def _refusal(self, side: str, product_id: str, size: Decimal, price: Decimal) -> dict[str, str] | None:
        product = PRODUCTS[product_id]
        asset = product["quote_currency_id"] if side == "BUY" else product["base_currency_id"]
        need = size * price * (1 + TAKER) if side == "BUY" else size
        if self.balances[asset][0] >= need:
            return None
        return {"error": "INSUFFICIENT_FUND", "message": "Insufficient balance in source account",
                "error_details": "", "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND"}  # fmt: skip

    @staticmethod
    def _view(order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    # -- orders ---------------------------------------------------------------------------------------------
    async def _create_order(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        config, side, pid = p.get("order_configuration") or {}, p.get("side"), p.get("product_id")
        with self._lock:
            known = self.with_client_id(p.get("client_order_id", ""))
            if known:  # the documented behaviour: no second order, the one with this client id is returned
                order = known[0]
            else:
                if pid not in PRODUCTS or side not in ("BUY", "SELL") or len(config) != 1:
                    return web.json_response({"error": "INVALID_ARGUMENT", "error_details": "invalid order request",
                                              "message": "invalid order request"}, status=400)  # fmt: skip
                (kind, terms), market = next(iter(config.items())), self.prices[pid]
                limit = Decimal(terms["limit_price"]) if kind == "limit_limit_gtc" else None
                increment = Decimal(PRODUCTS[pid]["base_increment"])
                size = (
                    Decimal(terms["base_size"])
                    if "base_size" in terms
                    else (Decimal(terms["quote_size"]) / market).quantize(increment, ROUND_DOWN)
                )
                refused = self._refusal(side, pid, size, limit or market)
                if refused is not None:
                    return web.json_response({"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON",
                                              "order_id": "", "error_response": refused,
                                              "order_configuration": config})  # fmt: skip
                order = self._new_order(p, kind, size)
                if limit is None or (limit >= market if side == "BUY" else limit <= market):
                    self._execute(order, size, market, maker=False)
                else:  # resting: hold the funds
                    product = PRODUCTS[pid]
                    asset = product["quote_currency_id"] if side == "BUY" else product["base_currency_id"]
                    amount = size * limit if side == "BUY" else size
                    self.balances[asset][0] -= amount
                    self.balances[asset][1] += amount
                    order["outstanding_hold_amount"] = f"{amount:f}"
            answer = {k: order[k] for k in ("order_id", "product_id", "side", "client_order_id")}
            config = order["order_configuration"]
        if not known:
            await self._order_recorded()
        return web.json_response({"success": True, "failure_reason": "UNKNOWN_FAILURE_REASON",
                                  "order_id": answer["order_id"], "success_response": answer,
                                  "order_configuration": config})  # fmt: skip

    def _new_order(self, p: dict[str, Any], kind: str, size: Decimal) -> dict[str, Any]:
        order_id, now = str(uuid.uuid4()), _iso(time.time())
        self.orders[order_id] = order = {
            "order_id": order_id, "product_id": p["product_id"], "user_id": USER_ID,
            "order_configuration": p["order_configuration"], "side": p["side"],
            "client_order_id": p.get("client_order_id", ""), "status": "OPEN",
            "time_in_force": "GOOD_UNTIL_CANCELLED" if kind.startswith("limit") else "IMMEDIATE_OR_CANCEL",
            "created_time": now, "completion_percentage": "0", "filled_size": "0", "average_filled_price": "0",
            "fee": "", "number_of_fills": "0", "filled_value": "0", "pending_cancel": False,
            "size_in_quote": False, "total_fees": "0", "size_inclusive_of_fees": False,
            "total_value_after_fees": "0", "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": "LIMIT" if kind.startswith("limit") else "MARKET",
            "reject_reason": "REJECT_REASON_UNSPECIFIED", "settled": False, "product_type": "SPOT",
            "reject_message": "", "cancel_message": "", "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": "0", "is_liquidation": False, "last_fill_time": None, "edit_history": [],
            "leverage": "", "margin_type": "UNKNOWN_MARGIN_TYPE", "retail_portfolio_id": PORTFOLIO_ID,
            "_size": f"{size:f}", "_created": time.time(),
        }  # fmt: skip
        return order

    async def _get_order(self, request: web.Request) -> web.Response:
        with self._lock:
            order = self.orders.get(request.match_info["order_id"])
            if order is None:
                text = "order with this orderID was not found"
                return web.json_response(
                    {"error": "NOT_FOUND", "error_details": text, "message": text}, status=404
                )
            return web.json_response({"order": self._view(order)})

    async def _list_orders(self, request: web.Request) -> web.Response:
        statuses = request.query.getall("order_status", [])
        products = request.query.getall("product_ids", []) + request.query.getall("product_id", [])
        limit = int(request.query.get("limit", "100"))
        with self._lock:
            rows = sorted(self.orders.values(), key=lambda o: o["_created"], reverse=True)
            rows = [
                self._view(o)
                for o in rows
                if (not statuses or o["status"] in statuses) and (not products or o["product_id"] in products)
            ]
        return web.json_response(
            {"orders": rows[:limit], "sequence": "0", "has_next": len(rows) > limit, "cursor": ""}
        )

    async def _batch_cancel(self, request: web.Request) -> web.Response:
        results = []
        with self._lock:
            for order_id in request[PARAMS].get("order_ids", []):
                order = self.orders.get(order_id)
                if order is None or order["status"] != "OPEN":
                    reason = "UNKNOWN_CANCEL_ORDER" if order is None else "INVALID_CANCEL_REQUEST"
                    results.append({"success": False, "failure_reason": reason, "order_id": order_id})
                    continue
                product, side = PRODUCTS[order["product_id"]], order["side"]
                left = Decimal(order["_size"]) - Decimal(order["filled_size"])
                limit = Decimal(order["order_configuration"]["limit_limit_gtc"]["limit_price"])
                asset = product["quote_currency_id"] if side == "BUY" else product["base_currency_id"]
                amount = left * limit if side == "BUY" else left
                self.balances[asset][1] -= amount
                self.balances[asset][0] += amount
                order.update(
                    status="CANCELLED", outstanding_hold_amount="0", cancel_message="User requested cancel"
                )
                results.append(
                    {"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": order_id}
                )
        return web.json_response({"results": results})
