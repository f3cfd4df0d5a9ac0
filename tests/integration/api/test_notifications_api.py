"""Notifications over HTTP (``/api/v1/notifications``) on SQLite and PostgreSQL.

Bad input tried: no token; another user's notification id (get, read, deliveries); an unknown and a malformed id;
a limit over the page size; marking read twice; a Slack webhook preference that is not an http(s) address.
"""

from __future__ import annotations

from datetime import timedelta

from tests.integration.api.conftest import Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error

from tsbot.adapters.storage.notification_inbox import SqlInboxStore
from tsbot.core.time import utc_now
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.wiring import Services

URL = "/api/v1/notifications"
ZERO_ID = "00000000-0000-0000-0000-000000000000"


async def _notify(
    api: Api, caller: Caller, key: str, type_: NotificationType = NotificationType.SYSTEM
) -> str:
    """Enqueue one notification for ``caller``; its id."""
    services: Services = api.app.state.services
    context = {"title": f"Notice {key}", "message": "maintenance at 02:00 UTC", "severity": "info"}
    request = NotificationRequest(caller.user.id, type_, key, context)
    assert await services.notifications().enqueue([request], now=utc_now()) == 1
    items, _ = await SqlInboxStore(services.db).list(caller.user.id, limit=1)
    return items[0].id


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """A notification of ``caller`` (for the route-walk test)."""
    return {"notification_id": await _notify(api, caller, "walk")}


async def test_list_read_and_read_all(serve: Serve) -> None:
    async with serve() as api:
        ann = await sign_in(api)
        h = ann.headers
        first = await _notify(api, ann, "one")
        second = await _notify(api, ann, "two", NotificationType.PRICE_ALERT)
        await _notify(api, ann, "three")
        page = (await api.client.get(URL, headers=h)).json()
        assert page["total"] == 3 and page["unread"] == 3 and page["limit"] == 50 and page["offset"] == 0
        assert {i["id"] for i in page["items"]} >= {first, second}
        item = next(i for i in page["items"] if i["id"] == first)
        assert item["type"] == "system" and item["title"] == "Notice one" and item["read_at"] is None
        assert item["body"] == "maintenance at 02:00 UTC" and item["data"]["severity"] == "info"
        assert set(item) == {"id", "type", "title", "body", "data", "created_at", "read_at"}

        read = await api.client.post(f"{URL}/{first}/read", headers=h)
        assert read.status_code == 200 and read.json()["read_at"] is not None
        again = await api.client.post(f"{URL}/{first}/read", headers=h)  # bad input: read twice
        assert again.json()["read_at"] == read.json()["read_at"]  # the first read time stays
        assert (await api.client.get(f"{URL}/unread-count", headers=h)).json() == {"unread": 2}
        unread = (await api.client.get(URL, params={"unread": "true"}, headers=h)).json()
        assert unread["total"] == 2 and first not in {i["id"] for i in unread["items"]}
        paged = (await api.client.get(URL, params={"limit": 1, "offset": 1}, headers=h)).json()
        assert len(paged["items"]) == 1 and paged["total"] == 3

        assert (await api.client.post(f"{URL}/read-all", headers=h)).json() == {"marked": 2, "unread": 0}
        assert (await api.client.get(URL, params={"unread": "true"}, headers=h)).json()["total"] == 0
        assert_error(await api.client.get(URL, params={"limit": 201}, headers=h), 422, "validation_error")


async def test_deliveries_show_each_channel_and_its_attempts(serve: Serve) -> None:
    async with serve() as api:
        ann = await sign_in(api)
        nid = await _notify(api, ann, "deliv")
        services: Services = api.app.state.services
        pending = (await api.client.get(f"{URL}/{nid}/deliveries", headers=ann.headers)).json()
        (in_app,) = pending["deliveries"]
        assert pending["notification_id"] == nid
        assert in_app["channel"] == "in_app" and in_app["state"] == "pending" and in_app["history"] == []
        summary = await services.notifications().dispatch(now=utc_now() + timedelta(seconds=1))
        assert summary.sent == 1
        sent = (await api.client.get(f"{URL}/{nid}/deliveries", headers=ann.headers)).json()["deliveries"][0]
        assert sent["state"] == "sent" and sent["attempts"] == 1 and sent["sent_at"] is not None
        (attempt,) = sent["history"]
        assert attempt["number"] == 1 and attempt["outcome"] == "sent" and attempt["error"] is None
        assert "target" not in sent  # addresses and webhook URLs are never shown
        await api.client.post(f"{URL}/{nid}/read", headers=ann.headers)
        read = (await api.client.get(f"{URL}/{nid}/deliveries", headers=ann.headers)).json()["deliveries"][0]
        assert read["state"] == "read"


async def test_another_users_notification_is_not_found(serve: Serve) -> None:
    async with serve() as api:
        owner, other = await sign_in(api), await sign_in(api)
        nid = (await owned_objects(api, owner))["notification_id"]
        for method, path in (("GET", ""), ("POST", "/read"), ("GET", "/deliveries")):
            answer = await api.client.request(method, f"{URL}/{nid}{path}", headers=other.headers)
            assert_error(answer, 404, "not_found")
            assert_error(
                await api.client.request(method, f"{URL}/{ZERO_ID}{path}", headers=owner.headers),
                404,
                "not_found",
            )
        assert (await api.client.get(URL, headers=other.headers)).json()["total"] == 0
        assert (await api.client.post(f"{URL}/read-all", headers=other.headers)).json()["marked"] == 0
        assert (await api.client.get(f"{URL}/{nid}", headers=owner.headers)).json()[
            "read_at"
        ] is None  # untouched
        assert_error(
            await api.client.get(f"{URL}/not-a-uuid", headers=owner.headers), 422, "validation_error"
        )
        assert_error(await api.client.get(URL), 401, "unauthorized")


async def test_preferences_say_what_each_channel_does_and_why(serve: Serve) -> None:
    async with serve() as api:
        ann = await sign_in(api)
        prefs = {"price_alert.in_app": False, "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/x"}
        changed = await api.client.patch("/api/v1/me", json={"notifications": prefs}, headers=ann.headers)
        assert changed.status_code == 200, changed.text
        out = (await api.client.get(f"{URL}/preferences", headers=ann.headers)).json()
        assert out["slack_webhook_key"] == "slack_webhook_url"
        alert = {p["channel"]: p for p in out["types"]["price_alert"]}
        assert alert["in_app"] == {
            "channel": "in_app",
            "key": "price_alert.in_app",
            "send": False,
            "reason": "off",
        }
        assert alert["email"]["reason"] == "unreachable: email is not configured on this server"
        assert alert["telegram"]["reason"] == "unreachable: telegram is not configured on this server"
        assert alert["slack"]["send"] is True
        assert {p["channel"]: p["send"] for p in out["types"]["system"]}["in_app"] is True
        bad = {"notifications": {"slack_webhook_url": "ftp://hooks.slack.com/x"}}  # bad input: not http(s)
        assert_error(await api.client.patch("/api/v1/me", json=bad, headers=ann.headers), 422, "invalid_data")
