"""The SMTP mailer against a real local SMTP server: delivery, email switched off, recipients refused for good
(5xx) or for now (4xx), an unreachable server, header injection, and no password in its repr or errors."""

from __future__ import annotations

import pytest
from tests.integration.accounts.conftest import SmtpInbox, free_port

from tsbot.accounts.models import OPERATOR
from tsbot.accounts.service import AccountService
from tsbot.adapters.email.smtp import EmailRefusedError, EmailUnavailableError, SmtpMailer
from tsbot.config import EmailConfig
from tsbot.core.errors import ConfigError

SMTP_PASSWORD = "smtp-password-never-shown"


def _mailer(port: int, **kw: object) -> SmtpMailer:
    return SmtpMailer(EmailConfig(host="127.0.0.1", port=port, sender="bot@tsbot.test", timeout_s=3, **kw))


async def test_plain_text_utf8_mail_is_delivered(smtp: SmtpInbox) -> None:
    await _mailer(smtp.port).send("ann@example.com", "Prix: 5 € — ok", "Bonjour Zoë,\nvoici le lien.\n")
    (mail,) = smtp.messages
    assert mail["To"] == "ann@example.com" and mail["Subject"] == "Prix: 5 € — ok"
    assert mail["Date"] and mail["Message-ID"].endswith("@tsbot.test>")
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == "Bonjour Zoë,\nvoici le lien.\n"


async def test_email_off_is_a_config_error() -> None:  # bad input: no SMTP host configured
    with pytest.raises(ConfigError, match="email is off: set email.host"):
        await SmtpMailer(EmailConfig()).send("ann@example.com", "s", "t")


async def test_permanent_and_temporary_refusals_are_told_apart(smtp: SmtpInbox) -> None:
    smtp.refuse = "550 5.1.1 mailbox unavailable"  # bad input: a recipient the server refuses for good
    with pytest.raises(EmailRefusedError, match="550"):
        await _mailer(smtp.port).send("gone@example.com", "s", "t")
    smtp.refuse = "451 4.3.0 try again later"  # bad input: a refusal for now
    with pytest.raises(EmailUnavailableError, match="retry later"):
        await _mailer(smtp.port).send("busy@example.com", "s", "t")
    assert smtp.messages == []


async def test_unreachable_server_is_temporary() -> None:  # bad input: nothing listens on the port
    with pytest.raises(EmailUnavailableError, match="unreachable"):
        await _mailer(free_port()).send("ann@example.com", "s", "t")


async def test_header_injection_is_refused(smtp: SmtpInbox) -> None:
    with pytest.raises(EmailRefusedError):  # bad input: a line break smuggling a Bcc header into the subject
        await _mailer(smtp.port).send("ann@example.com", "Hi\r\nBcc: everyone@example.com", "t")
    assert smtp.messages == []


async def test_login_the_server_cannot_do_is_refused_without_the_password(smtp: SmtpInbox) -> None:
    mailer = _mailer(
        smtp.port, username="bot", password=SMTP_PASSWORD
    )  # bad input: AUTH on a server without it
    with pytest.raises(EmailRefusedError, match="email.username") as caught:
        await mailer.send("ann@example.com", "s", "t")
    assert SMTP_PASSWORD not in str(caught.value)
    with pytest.raises(EmailRefusedError, match="email.security"):  # bad input: STARTTLS on a plain server
        await _mailer(smtp.port, security="starttls").send("ann@example.com", "s", "t")


def test_password_stays_out_of_repr() -> None:
    mailer = _mailer(2525, username="bot", password=SMTP_PASSWORD, security="starttls")
    assert SMTP_PASSWORD not in repr(mailer) and "127.0.0.1:2525" in repr(mailer)


async def test_refused_confirmation_email_keeps_no_account(accounts: AccountService, smtp: SmtpInbox) -> None:
    smtp.refuse = "550 5.1.1 no such mailbox"  # bad input: an address whose server refuses it
    with pytest.raises(EmailRefusedError):
        await accounts.register("typo@example.com", "Correct-horse-42")
    assert await accounts.list_users(OPERATOR) == []
    smtp.refuse = None
    user = await accounts.register("typo@example.com", "Correct-horse-42")  # the person can simply try again
    assert user.email == "typo@example.com" and len(smtp.messages) == 1
