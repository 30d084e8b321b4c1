"""The SMTP side against the harness's real Postfix: `bouncer check`, forwarding and alerts.

Mail goes through the real Postfix into the real Dovecot and is read back from the
recipient's mailbox. (The IMAP steps of `bouncer check` are in test_real_imap.py.)
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from servers import Dovecot, Postfix, free_port, simple_mail, wait_for

from bouncer.alerts import FolderAlerts, smtp_sender
from bouncer.check import collect
from bouncer.check.result import Status
from bouncer.config import AlertsConfig, Config
from bouncer.forward import forward_message

pytestmark = pytest.mark.integration


def postfix_config(postfix: Postfix, **overrides: Any) -> Config:
    system: dict[str, Any] = {
        "host": postfix.host,
        "port": postfix.smtp_port,
        "security": "none",
        "from_address": f"bouncer@{postfix.domain}",
        "timeout": 10,
    }
    system.update(overrides)
    return Config.model_validate({"smtp": {"system": system}})


async def test_check_and_test_message_through_postfix(dovecot: Dovecot, postfix: Postfix, new_mail_user: Any) -> None:
    recipient = new_mail_user()
    report = await collect(postfix_config(postfix), send_test=recipient.address)
    assert [(s.name, s.status) for s in report.steps] == [
        (name, Status.OK) for name in ("dns", "tcp", "greeting", "tls", "login", "sender", "send test")
    ], report.to_table()
    assert report.exit_code == 0
    assert "mx.bouncer.test" in report.steps[2].detail
    delivered = await wait_for(lambda: dovecot.messages(recipient, "INBOX"), timeout=20)
    (_, raw), *_ = delivered.values()
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "bouncer test message (smtp system)"
    assert message["Auto-Submitted"] == "auto-generated"


async def test_postfix_without_starttls(postfix: Postfix) -> None:
    report = await collect(postfix_config(postfix, security="starttls"))
    failure = report.steps[-1]
    assert (failure.name, failure.status) == ("tls", Status.FAIL)
    assert failure.hint is not None and failure.hint.key == "starttls-unsupported"


async def test_postfix_with_a_login_it_does_not_offer(postfix: Postfix) -> None:
    config = postfix_config(postfix, username="crm@bouncer.test", password="secret-pw-123")
    report = await collect(config)
    failure = report.steps[-1]
    assert (failure.name, failure.status) == ("login", Status.FAIL), report.to_table()
    assert failure.hint is not None and failure.hint.key == "smtp-auth-needs-tls"
    assert "secret-pw-123" not in report.to_json()
    # The unencrypted login was flagged before it was refused.
    assert [s.status for s in report.steps if s.name == "tls"] == [Status.WARN]


async def test_wrong_smtp_port() -> None:
    report = await collect(
        Config.model_validate(
            {"smtp": {"system": {"host": "127.0.0.1", "port": free_port(), "security": "none",
                                 "from_address": "a@bouncer.test", "timeout": 5}}}
        )
    )  # fmt: skip
    assert (report.steps[-1].name, report.steps[-1].hint.key if report.steps[-1].hint else None) == (
        "tcp",
        "connect-refused",
    )


async def test_forwarded_mail_arrives_in_the_real_mailbox(
    dovecot: Dovecot, postfix: Postfix, new_mail_user: Any
) -> None:
    ops = new_mail_user()
    config = postfix_config(postfix)
    original = simple_mail("Re: Our autumn newsletter", "Thanks, see you on Friday!\n", sender="ana@example.net")
    await forward_message(config.smtp["system"], ops.address, original, "bounces")
    delivered = await wait_for(lambda: dovecot.messages(ops, "INBOX"), timeout=20)
    assert len(delivered) == 1
    (_, raw), *_ = delivered.values()
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Fwd: Re: Our autumn newsletter"
    assert message["Reply-To"] == "ana@example.net"
    attached = [part for part in message.iter_attachments() if part.get_content_type() == "message/rfc822"]
    assert len(attached) == 1
    inner = attached[0].get_content()
    assert inner["Subject"] == "Re: Our autumn newsletter"
    assert "Thanks, see you on Friday!" in inner.get_content()


async def test_alert_and_recovery_mails_arrive_in_the_real_mailbox(
    dovecot: Dovecot, postfix: Postfix, new_mail_user: Any
) -> None:
    ops = new_mail_user()
    config = postfix_config(postfix)
    alerts_config = AlertsConfig(to=(ops.address,), after=60)
    now = [0.0]
    alerts = FolderAlerts(alerts_config, smtp_sender(config.smtp["system"], alerts_config), clock=lambda: now[0])
    alerts.failed("bounces", "INBOX", "login refused: [AUTHENTICATIONFAILED]", "Check the password.")
    now[0] = 61.0
    await alerts.tick()
    failing = await wait_for(lambda: dovecot.messages(ops, "INBOX"), timeout=20)
    assert len(failing) == 1
    now[0] = 61.0 + 3600
    alerts.ok("bounces", "INBOX")
    await alerts.tick()
    both = await wait_for(lambda: len(dovecot.messages(ops, "INBOX")) == 2 and dovecot.messages(ops, "INBOX"), 20)
    subjects = sorted(str(email.message_from_bytes(raw, policy=policy.default)["Subject"]) for _, raw in both.values())
    assert subjects == ["[bouncer] bounces/INBOX is failing", "[bouncer] bounces/INBOX recovered"]
    first = email.message_from_bytes(next(iter(failing.values()))[1], policy=policy.default)
    assert isinstance(first, EmailMessage)
    body = first.get_content()
    assert "AUTHENTICATIONFAILED" in body and "What to do: Check the password." in body
