"""Messages over HTTP (``/api/v1/messages``, ``/api/v1/admin/messages/bulk``) on SQLite and PostgreSQL.

Bad input tried: no token; a viewer sending; a trader bulk-sending; an unknown recipient (email, id); a
deactivated recipient; oneself as recipient; an empty, blank, 201-character subject; a 10,001-character body; a NUL
character; an unknown body field; a bad box, limit, offset; ``unread`` with the sent box; a malformed message id;
another user's message id (get, read, unread, delete); an empty and a 501-id delete list; contacting the admins when
there is no other admin.
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.integration.api.conftest import PASSWORD, Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error

from tsbot.accounts.messages import MessageService
from tsbot.accounts.models import OPERATOR, Identity, Role, permissions_of
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.messages import SqlMessageStore
from tsbot.apps.api import auth

URL = "/api/v1/messages"
BULK = "/api/v1/admin/messages/bulk"
ZERO_ID = "00000000-0000-0000-0000-000000000000"


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """A message ``caller`` received from a new user (for the route-walk test)."""
    services = api.app.state.services
    sender = await auth.accounts_of_app(api.app).create_user(
        OPERATOR, f"walk-sender-{secrets.token_hex(4)}@example.com", PASSWORD, Role.TRADER
    )
    service = MessageService(SqlMessageStore(services.db), SqlUserStore(services.db))
    sent = await service.send(Identity(sender, permissions_of(Role.TRADER)), caller.user.id, "walk", "hello")
    return {"message_id": sent.id}


def _msg(subject: str = "Hello", body: str = "text", **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "body": body, **extra}


async def test_send_list_read_unread_delete(serve: Serve) -> None:
    async with serve() as api:
        ann, bob = await sign_in(api), await sign_in(api)
        body = "<script>alert('x')</script>\n  ünïcödé 🚀  "
        sent = await api.client.post(
            URL, json=_msg(body=body, to=bob.user.email.upper()), headers=ann.headers
        )
        assert sent.status_code == 201, sent.text
        out = sent.json()
        mid = out["id"]
        assert out["box"] == "sent" and out["kind"] == "direct" and out["body"] == body  # verbatim
        assert out["recipient"] == {"id": bob.user.id, "display_name": bob.user.display_name}
        assert out["sender"]["id"] == ann.user.id and "email" not in out["sender"]
        assert out["sent_at"].endswith("Z") or out["sent_at"].endswith("+00:00")
        second = await api.client.post(URL, json=_msg("Two", to=bob.user.id), headers=ann.headers)
        assert second.status_code == 201

        inbox = (await api.client.get(URL, headers=bob.headers)).json()
        assert inbox["total"] == 2 and inbox["limit"] == 50 and inbox["offset"] == 0
        assert [m["subject"] for m in inbox["items"]] == ["Two", "Hello"]
        page = (await api.client.get(URL, params={"limit": 1, "offset": 1}, headers=bob.headers)).json()
        assert [m["id"] for m in page["items"]] == [mid] and page["total"] == 2
        assert (await api.client.get(f"{URL}/unread-count", headers=bob.headers)).json() == {"unread": 2}

        got = (await api.client.get(f"{URL}/{mid}", headers=bob.headers)).json()
        assert got["box"] == "inbox" and got["read"] is False and got["body"] == body
        read = (await api.client.post(f"{URL}/{mid}/read", headers=bob.headers)).json()
        assert read["read"] is True and read["read_at"] is not None
        assert (await api.client.get(f"{URL}/unread-count", headers=bob.headers)).json() == {"unread": 1}
        unread_only = (await api.client.get(URL, params={"unread": "true"}, headers=bob.headers)).json()
        assert [m["subject"] for m in unread_only["items"]] == ["Two"] and unread_only["total"] == 1
        again = (await api.client.post(f"{URL}/{mid}/unread", headers=bob.headers)).json()
        assert again["read"] is False and again["read_at"] is None

        sent_box = (await api.client.get(URL, params={"box": "sent"}, headers=ann.headers)).json()
        assert sent_box["total"] == 2 and all(m["box"] == "sent" for m in sent_box["items"])
        assert (await api.client.get(URL, headers=ann.headers)).json()["total"] == 0

        deleted = await api.client.post(f"{URL}/delete", json={"ids": [mid]}, headers=bob.headers)
        assert deleted.json() == {"deleted": [mid], "not_found": []}
        assert_error(await api.client.get(f"{URL}/{mid}", headers=bob.headers), 404, "not_found")
        kept = (await api.client.get(f"{URL}/{mid}", headers=ann.headers)).json()
        assert kept["box"] == "sent" and kept["recipient"]["id"] == bob.user.id  # the sender's copy stays
        await api.client.post(f"{URL}/delete", json={"ids": [mid]}, headers=ann.headers)
        assert_error(await api.client.get(f"{URL}/{mid}", headers=ann.headers), 404, "not_found")


async def test_permissions_contact_admins_and_bulk(serve: Serve) -> None:
    async with serve() as api:
        viewer, trader = await sign_in(api, Role.VIEWER), await sign_in(api, Role.TRADER)
        assert_error(await api.client.get(URL), 401, "unauthorized")
        assert_error(await api.client.post(f"{URL}/admins", json=_msg()), 401, "unauthorized")
        no_admin = await api.client.post(f"{URL}/admins", json=_msg(), headers=viewer.headers)
        assert_error(no_admin, 409, "no_recipients")
        admin = await sign_in(api, Role.ADMIN)

        refused = await api.client.post(URL, json=_msg(to=trader.user.id), headers=viewer.headers)
        assert "send_messages" in assert_error(refused, 403, "forbidden")["message"]  # type: ignore[operator]
        help_ = await api.client.post(f"{URL}/admins", json=_msg("Help", "please"), headers=viewer.headers)
        assert (
            help_.status_code == 201
            and help_.json()["kind"] == "admins"
            and help_.json()["recipient_count"] == 1
        )
        admin_inbox = (await api.client.get(URL, headers=admin.headers)).json()["items"]
        assert [(m["subject"], m["sender"]["id"]) for m in admin_inbox] == [("Help", viewer.user.id)]

        assert_error(await api.client.post(BULK, json=_msg(), headers=trader.headers), 403, "forbidden")
        to_viewers = await api.client.post(BULK, json=_msg("News", role="viewer"), headers=admin.headers)
        assert to_viewers.status_code == 201 and to_viewers.json()["audience"] == "viewer"
        assert to_viewers.json()["recipient_count"] == 1
        everyone = (await api.client.post(BULK, json=_msg("All"), headers=admin.headers)).json()
        assert everyone["audience"] == "all" and everyone["recipient_count"] == 2  # the sender excluded
        assert [
            m["subject"] for m in (await api.client.get(URL, headers=viewer.headers)).json()["items"]
        ] == [
            "All",
            "News",
        ]
        assert [
            m["subject"] for m in (await api.client.get(URL, headers=trader.headers)).json()["items"]
        ] == ["All"]
        no_api_users = await api.client.post(BULK, json=_msg(role="api_user"), headers=admin.headers)
        assert_error(no_api_users, 409, "no_recipients")


async def test_bad_recipients_and_bad_text(serve: Serve) -> None:
    async with serve() as api:
        ann, bob = await sign_in(api), await sign_in(api)
        post = api.client.post
        for to in ("nobody@example.com", ZERO_ID):
            assert_error(await post(URL, json=_msg(to=to), headers=ann.headers), 404, "not_found")
        assert_error(await post(URL, json=_msg(to=ann.user.id), headers=ann.headers), 422, "invalid_data")
        bad_bodies = [
            _msg("", to=bob.user.id),
            _msg("   ", to=bob.user.id),
            _msg("s" * 201, to=bob.user.id),
            _msg(body="b" * 10_001, to=bob.user.id),
            _msg("nul\u0000", to=bob.user.id),
            _msg(to=bob.user.id, cc="eve@example.com"),
            {"subject": "no body", "to": bob.user.id},
        ]
        for bad in bad_bodies:
            answer = await post(URL, json=bad, headers=ann.headers)
            assert answer.status_code == 422, (bad, answer.text)
        await auth.accounts_of_app(api.app).set_active(OPERATOR, bob.user.id, False)
        assert_error(
            await post(URL, json=_msg(to=bob.user.id), headers=ann.headers), 409, "recipient_inactive"
        )
        assert (await api.client.get(URL, params={"box": "sent"}, headers=ann.headers)).json()["total"] == 0


async def test_bad_queries_and_other_users_messages(serve: Serve) -> None:
    async with serve() as api:
        ann, bob, eve = await sign_in(api), await sign_in(api), await sign_in(api)
        mid = (await api.client.post(URL, json=_msg(to=bob.user.id), headers=ann.headers)).json()["id"]
        get = api.client.get
        for params in ({"box": "trash"}, {"limit": 0}, {"limit": 201}, {"offset": -1}, {"offset": 10**7}):
            assert (await get(URL, params=params, headers=bob.headers)).status_code == 422, params
        unread_sent = await get(URL, params={"box": "sent", "unread": "true"}, headers=ann.headers)
        assert_error(unread_sent, 422, "invalid_data")
        assert (await get(f"{URL}/not-a-uuid", headers=bob.headers)).status_code == 422

        for method, path in (("GET", ""), ("POST", "/read"), ("POST", "/unread")):
            answer = await api.client.request(method, f"{URL}/{mid}{path}", headers=eve.headers)
            assert_error(answer, 404, "not_found")
        assert_error(await api.client.post(f"{URL}/{mid}/read", headers=ann.headers), 404, "not_found")
        eve_delete = await api.client.post(f"{URL}/delete", json={"ids": [mid, ZERO_ID]}, headers=eve.headers)
        assert eve_delete.json() == {"deleted": [], "not_found": [mid, ZERO_ID]}
        assert (await get(f"{URL}/{mid}", headers=bob.headers)).json()["id"] == mid  # untouched

        for ids in ([], [ZERO_ID] * 501, ["nope"]):
            answer = await api.client.post(f"{URL}/delete", json={"ids": ids}, headers=bob.headers)
            assert answer.status_code == 422, len(ids)
