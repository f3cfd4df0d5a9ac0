"""The bot routes over HTTP (``/api/v1/bots``) on SQLite and PostgreSQL: bots created on a portfolio's paper account,
their status moves and events, and orders proposed for approval, decided here and picked up by the running bot
(a follow bot on the paper account, sending what was approved and dropping what was declined).

Bad input tried: a name already used, an unknown strategy, follow without a provider, a provider with a built-in
strategy, a capital that is not positive, a risk ratio over 1, an unknown risk field, an unknown strategy
parameter, a malformed pair, no pairs, another user's portfolio, bot and approval (404), an approval of another
bot (404), pausing a paused bot and resuming a stopped one (409), deciding twice (409), deciding for a stopped bot
(409), no token (401), a viewer starting a bot (403).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from tests.integration.api.conftest import Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error
from tests.integration.api.test_portfolios_api import funded_portfolio, services_of, store_closes

from tsbot.accounts.models import Role
from tsbot.backtest.models import BacktestConfig
from tsbot.backtest.strategies import STRATEGIES
from tsbot.core.enums import AssetClass
from tsbot.core.time import utc_now
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.trading.approvals import apply_decisions
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_state import BotSettings, ProviderSignal
from tsbot.trading.bots import Approval, ApprovalStatus, approval_summary
from tsbot.trading.models import OrderRequest, OrderSide, OrderStatus, OrderType
from tsbot.trading.paper_books import open_paper_desk
from tsbot.trading.replay import paper_rules
from tsbot.trading.risk import RiskLimits

BOTS = "/api/v1/bots"


def bot_body(pid: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "swingy",
        "strategy": "swing",
        "portfolio_id": pid,
        "pairs": ["BTC/USDT"],
        "capital": "500",
    } | fields


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """A bot of ``caller`` and an order it proposes (for the route walk)."""
    pid = await funded_portfolio(api, caller, name="walk-bots")
    made = await api.client.post(
        BOTS, json=bot_body(pid, name="walker", approval=True), headers=caller.headers
    )
    assert made.status_code == 201, made.text
    bot_id = made.json()["bot_id"]
    request = OrderRequest(
        "tsb-walk-" + bot_id[:8], f"paper:{pid}", "BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal(1)
    )
    approval = Approval.new(
        caller.user.id, request, approval_summary("walker", request), now=utc_now(), bot_id=bot_id
    )
    stored = await services_of(api).bots.propose(approval)
    return {"bot_id": bot_id, "approval_id": stored.id}


async def test_create_list_show_and_move_a_bot(serve: Serve) -> None:
    async with serve() as api:
        me = await sign_in(api)
        pid = await funded_portfolio(api, me)
        risk = {"risk_per_trade_ratio": "0.02", "max_daily_loss_ratio": None, "cooldown_after_stop": 600}
        made = await api.client.post(BOTS, json=bot_body(pid, risk=risk, params={}), headers=me.headers)
        assert made.status_code == 201, made.text
        bot = made.json()
        assert bot["status"] == "running" and bot["portfolio_id"] == pid and bot["account"] == f"paper:{pid}"
        assert bot["risk"]["risk_per_trade_ratio"] == "0.02" and bot["risk"]["max_daily_loss_ratio"] is None
        assert (
            bot["risk"]["cooldown_after_stop"] == 600 and bot["risk"]["max_position_ratio"] == "0.2"
        )  # default
        assert bot["capital"] == "500" and bot["approval"] is False
        assert_error(await api.client.post(BOTS, json=bot_body(pid), headers=me.headers), 409, "conflict")
        listed = (await api.client.get(BOTS, headers=me.headers)).json()
        assert listed["total"] == 1 and listed["items"][0]["bot_id"] == bot["bot_id"]

        url = f"{BOTS}/{bot['bot_id']}"
        paused = await api.client.post(f"{url}/pause", json={"reason": "holiday"}, headers=me.headers)
        assert paused.status_code == 200 and paused.json()["status"] == "paused", paused.text
        again = assert_error(
            await api.client.post(f"{url}/pause", headers=me.headers), 409, "invalid_transition"
        )
        assert "already paused" in str(again["message"])
        resumed = await api.client.post(f"{url}/resume", headers=me.headers)
        assert resumed.json()["status"] == "running" and "through the API" in resumed.json()["status_reason"]
        assert (await api.client.post(f"{url}/stop", headers=me.headers)).json()["status"] == "stopped"
        assert_error(await api.client.post(f"{url}/resume", headers=me.headers), 409, "invalid_transition")
        shown = (await api.client.get(url, params={"events": 2}, headers=me.headers)).json()
        assert shown["status"] == "stopped" and shown["pending_approvals"] == 0
        assert [e["data"]["to"] for e in shown["events"]] == ["stopped", "running"]
        assert (await api.client.get(BOTS, params={"status": "running"}, headers=me.headers)).json()[
            "total"
        ] == 0


async def test_bad_bot_settings_are_refused(serve: Serve) -> None:
    async with serve() as api:
        me = await sign_in(api)
        pid = await funded_portfolio(api, me)
        refused = {
            "strategy follow needs a provider": {"strategy": "follow"},
            "only for strategy follow": {"provider": "whales"},
            "capital must be a positive": {"capital": "-5"},
            "risk_per_trade_ratio must be in (0, 1]": {"risk": {"risk_per_trade_ratio": "1.5"}},
            "has no parameter 'no_such_knob'": {"params": {"no_such_knob": 3}},
        }
        for reason, fields in refused.items():
            body = assert_error(
                await api.client.post(BOTS, json=bot_body(pid, **fields), headers=me.headers),
                400,
                "invalid_configuration",
            )
            assert reason in str(body["message"]), (fields, body)
        for fields in (
            {"strategy": "moon"},
            {"pairs": []},
            {"pairs": ["BTCUSDT"]},
            {"risk": {"max_fun": "1"}},
            {"capital": "lots"},
            {"timeframe": "7x"},
        ):
            answer = await api.client.post(BOTS, json=bot_body(pid, **fields), headers=me.headers)
            assert_error(answer, 422, "validation_error")
        assert set(STRATEGIES) | {"follow"} == {
            "scalping",
            "swing",
            "ai_adaptive",
            "fused",
            "sma_cross",
            "follow",
        }
        assert (await api.client.get(BOTS, headers=me.headers)).json()["total"] == 0


async def test_approvals_decided_here_are_picked_up_by_the_running_bot(serve: Serve) -> None:
    async with serve() as api:
        me = await sign_in(api)
        services = services_of(api)
        await store_closes(services, "BTC/USDT", [100.0] * 3)
        pid = await funded_portfolio(api, me)
        made = await api.client.post(
            BOTS,
            json=bot_body(pid, name="copy", strategy="follow", provider="whales", approval=True),
            headers=me.headers,
        )
        assert made.status_code == 201, made.text
        bot_id = made.json()["bot_id"]

        # the running bot: a follow bot on the portfolio's paper account, proposing its entries to the store
        account = f"paper:{pid}"
        desk, _ = await open_paper_desk(
            account,
            orders=services.orders,
            ledger=services.paper_ledger(),
            candles=services.candles,
            symbols=["BTC/USDT"],
        )

        async def propose(request: OrderRequest) -> None:
            summary = approval_summary("copy", request)
            await services.bots.propose(
                Approval.new(me.user.id, request, summary, now=utc_now(), bot_id=bot_id)
            )

        settings = BotSettings(bot_id, account, Decimal(500), ("BTC/USDT",), BacktestConfig(), RiskLimits())
        rules = {"BTC/USDT": paper_rules("BTC/USDT", AssetClass.CRYPTO, 100.0)}
        bot = SignalBot(settings, None, desk.service, rules=rules, clock=utc_now, propose=propose)
        history = await services.candles.load(SeriesKey("binance", "BTC/USDT", Timeframe.H1))
        await bot.on_close("BTC/USDT", history)
        signal = ProviderSignal("s1", "BTC/USDT", 1, utc_now(), stop=Decimal(90), targets=(Decimal(120),))
        assert await bot.on_signal(signal)

        waiting = (await api.client.get(f"{BOTS}/{bot_id}/approvals", headers=me.headers)).json()
        assert waiting["total"] == 1 and waiting["items"][0]["status"] == "pending"
        proposal = waiting["items"][0]
        assert proposal["summary"].startswith("copy wants to BUY") and proposal["order"]["side"] == "buy"
        assert (await api.client.get(f"{BOTS}/{bot_id}", headers=me.headers)).json()["pending_approvals"] == 1
        approved = await api.client.post(
            f"{BOTS}/{bot_id}/approvals/{proposal['approval_id']}/approve", headers=me.headers
        )
        assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
        assert approved.json()["decided_by"] == me.user.email
        twice = await api.client.post(
            f"{BOTS}/{bot_id}/approvals/{proposal['approval_id']}/decline", headers=me.headers
        )
        assert "already approved" in str(assert_error(twice, 409, "conflict")["message"])

        # the bot reads the decisions from the store: the approved entry is sent and fills on the paper account
        applied = await apply_decisions(bot, await services.bots.approvals(me.user.id), utc_now())
        cid = proposal["order"]["client_order_id"]
        assert applied.sent == [cid] and bot.awaiting == {}
        order = (await api.client.get(f"/api/v1/orders/{cid}", headers=me.headers)).json()
        assert order["status"] == OrderStatus.FILLED.value and order["side"] == "buy"
        events = (await api.client.get(f"{BOTS}/{bot_id}", headers=me.headers)).json()["events"]
        assert events[0]["kind"] == "approval" and events[0]["data"]["client_order_id"] == cid

        # a declined proposal is dropped by the bot; an expired one is shown as expired
        assert await bot.on_signal(ProviderSignal("s2", "BTC/USDT", 1, utc_now(), stop=Decimal(90)))
        (second,) = [
            a for a in await services.bots.approvals(me.user.id, ApprovalStatus.PENDING) if a.bot_id == bot_id
        ]
        declined = await api.client.post(f"{BOTS}/{bot_id}/approvals/{second.id}/decline", headers=me.headers)
        assert declined.status_code == 200 and declined.json()["status"] == "rejected", declined.text
        applied = await apply_decisions(bot, await services.bots.approvals(me.user.id), utc_now())
        assert (
            applied.dropped == [second.request.client_order_id] and applied.sent == [] and bot.awaiting == {}
        )
        old = OrderRequest("tsb-old-1", account, "BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal(1))
        stale = Approval.new(me.user.id, old, "old", now=utc_now() - timedelta(hours=1), bot_id=bot_id)
        await services.bots.propose(stale)
        expired = (
            await api.client.get(
                f"{BOTS}/{bot_id}/approvals", params={"status": "expired"}, headers=me.headers
            )
        ).json()
        assert [a["approval_id"] for a in expired["items"]] == [stale.id]
        late = await api.client.post(f"{BOTS}/{bot_id}/approvals/{stale.id}/approve", headers=me.headers)
        assert "expired" in str(assert_error(late, 409, "conflict")["message"])
        rejected = (
            await api.client.get(
                f"{BOTS}/{bot_id}/approvals", params={"status": "rejected"}, headers=me.headers
            )
        ).json()
        assert [a["approval_id"] for a in rejected["items"]] == [second.id]


async def test_bot_permissions_and_ownership(serve: Serve) -> None:
    async with serve() as api:
        owner, other = await sign_in(api), await sign_in(api)
        viewer = await sign_in(api, Role.VIEWER)
        objects = await owned_objects(api, owner)
        bot_id, approval_id = objects["bot_id"], objects["approval_id"]
        assert_error(await api.client.get(BOTS), 401, "unauthorized")
        other_pid = await funded_portfolio(api, other)
        assert_error(
            await api.client.post(BOTS, json=bot_body(other_pid), headers=viewer.headers), 403, "forbidden"
        )
        assert (await api.client.get(f"{BOTS}/{bot_id}/approvals", headers=viewer.headers)).status_code == 404
        owner_pid = (await api.client.get(f"{BOTS}/{bot_id}", headers=owner.headers)).json()["portfolio_id"]
        assert_error(
            await api.client.post(BOTS, json=bot_body(owner_pid), headers=other.headers), 404, "not_found"
        )
        for method, path in (
            ("GET", f"{BOTS}/{bot_id}"),
            ("POST", f"{BOTS}/{bot_id}/pause"),
            ("POST", f"{BOTS}/{bot_id}/resume"),
            ("POST", f"{BOTS}/{bot_id}/stop"),
            ("GET", f"{BOTS}/{bot_id}/approvals"),
            ("POST", f"{BOTS}/{bot_id}/approvals/{approval_id}/approve"),
            ("POST", f"{BOTS}/{bot_id}/approvals/{approval_id}/decline"),
        ):
            assert_error(await api.client.request(method, path, headers=other.headers), 404, "not_found")
        # the approval under another of the owner's bots is not found either
        made = await api.client.post(BOTS, json=bot_body(owner_pid, name="second"), headers=owner.headers)
        second = made.json()["bot_id"]
        wrong = await api.client.post(
            f"{BOTS}/{second}/approvals/{approval_id}/approve", headers=owner.headers
        )
        assert_error(wrong, 404, "not_found")
        assert (await api.client.post(f"{BOTS}/{bot_id}/stop", headers=owner.headers)).status_code == 200
        stopped = await api.client.post(
            f"{BOTS}/{bot_id}/approvals/{approval_id}/approve", headers=owner.headers
        )
        assert "stopped" in str(assert_error(stopped, 409, "conflict")["message"])
