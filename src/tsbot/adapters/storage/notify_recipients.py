"""Who notifications go to, read from the ``users`` and ``telegram_links`` tables
(:class:`~tsbot.notify.ports.RecipientDirectory`): whether the account is active, its confirmed email address, its
linked Telegram chat, its notification preferences and its time zone."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.accounts.models import Preferences
from tsbot.adapters.storage.tables import users
from tsbot.adapters.storage.tables_messaging import telegram_links
from tsbot.notify.models import Recipient

#: Users read per query.
_CHUNK = 500


class SqlRecipientDirectory:
    """Recipients over one database.

    Args:
        engine: the database.
        require_verified_email: True: an address is used only once its owner confirmed it (``email_verified``);
            False (``accounts.require_email_verification`` off): every account's address is used.
    """

    def __init__(self, engine: AsyncEngine, *, require_verified_email: bool = True) -> None:
        self._engine = engine
        self._require_verified = require_verified_email

    async def recipients(self, user_ids: Collection[str], at: datetime) -> dict[str, Recipient]:
        """The recipients of ``user_ids`` as of ``at`` (UTC), by user id; unknown ids are absent. An account is
        active when ``is_active`` is set and its ``active_until`` (if any) is after ``at``."""
        wanted = sorted({u for u in user_ids if isinstance(u, str)})
        found: dict[str, Recipient] = {}
        u, t = users.c, telegram_links.c
        async with self._engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                stmt = (
                    select(
                        u.id, u.email, u.email_verified, u.is_active, u.active_until, u.preferences, t.chat_id
                    )
                    .select_from(users.outerjoin(telegram_links, t.user_id == u.id))
                    .where(u.id.in_(wanted[start : start + _CHUNK]))
                )
                for row in (await conn.execute(stmt)).all():
                    m = row._mapping
                    active = bool(m["is_active"]) and (m["active_until"] is None or at < m["active_until"])
                    use_email = bool(m["email_verified"]) or not self._require_verified
                    prefs = Preferences.from_json(m["preferences"])
                    found[m["id"]] = Recipient(
                        user_id=m["id"],
                        active=active,
                        email=m["email"] if use_email else None,
                        telegram_chat_id=None if m["chat_id"] is None else int(m["chat_id"]),
                        preferences=dict(prefs.notifications),
                        time_zone=prefs.time_zone,
                    )
        return found
