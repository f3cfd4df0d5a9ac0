"""Email notifications through :class:`~tsbot.adapters.email.smtp.SmtpMailer` (``settings.email``).

Each message carries a stable ``Message-ID`` made from the delivery key (``<notification id>.email@<sender's
domain>``), so a message sent again after a lost result is recognisably the same one, and ``Auto-Submitted:
auto-generated`` (RFC 3834), so autoresponders stay quiet. Errors are the mailer's: ``EmailUnavailableError``
(temporary: unreachable, timeout, SMTP 4xx) and ``EmailRefusedError`` (for good: SMTP 5xx such as an unknown
recipient, with the server's words).
"""

from __future__ import annotations

from typing import Final

from tsbot.adapters.email.smtp import EmailRefusedError, SmtpMailer
from tsbot.notify.models import OutgoingMessage

#: Ends every notification email.
FOOTER: Final = (
    "--\ntsbot notification. Choose which notifications you get in your account's notification preferences."
)


class EmailNotifier:
    """Sends notifications as plain-text email: subject the title, text the body and :data:`FOOTER`."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self._mailer = mailer

    def __repr__(self) -> str:
        return f"EmailNotifier({self._mailer!r})"

    async def send(self, message: OutgoingMessage) -> None:
        """Email ``message`` to its target address.

        Raises:
            EmailRefusedError: no address, or the server refused for good (5xx).
            EmailUnavailableError: the server is unreachable, timed out or refused for now (4xx).
            tsbot.core.errors.ConfigError: email is off.
        """
        if not message.target:
            raise EmailRefusedError("email not sent: the delivery has no address")
        await self._mailer.send(
            message.target,
            message.title,
            f"{message.body}\n\n{FOOTER}\n",
            message_id=message.delivery_key,
            headers={"Auto-Submitted": "auto-generated"},
        )
