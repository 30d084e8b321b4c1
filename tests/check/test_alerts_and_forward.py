"""Alerts (a state machine driven by folder events and a clock) and forwarding people's mail."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage

import pytest
from smtp_peer import PeerTls, SmtpScript, smtp_config

from bouncer.alerts import AlertMail, FolderAlerts, smtp_sender
from bouncer.config import AlertsConfig
from bouncer.forward import build_forward, forward_message
from bouncer.smtp import SmtpError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime(2026, 11, 27, 12, 0, tzinfo=UTC) + timedelta(seconds=self.now)


class Outbox:
    def __init__(self) -> None:
        self.mails: list[AlertMail] = []
        self.fail = False

    async def __call__(self, mail: AlertMail) -> None:
        if self.fail:
            raise SmtpError("connect", smtp_config(1).smtp["system"], "connection refused")
        self.mails.append(mail)

    @property
    def kinds(self) -> list[tuple[str, str]]:
        return [(m.folder, m.kind) for m in self.mails]


def machine(after: float = 900) -> tuple[FolderAlerts, Clock, Outbox]:
    clock, outbox = Clock(), Outbox()
    alerts = FolderAlerts(AlertsConfig(to=("ops@example.org",), after=after), outbox, clock, clock.wall)
    return alerts, clock, outbox


async def test_no_alert_before_after_then_one_then_recovery() -> None:
    alerts, clock, outbox = machine(after=900)
    alerts.failed("acme", "INBOX", "connection refused", "Check the port.")
    clock.now += 600
    alerts.failed("acme", "INBOX", "connection refused", "Check the port.")
    assert outbox.mails == []
    clock.now += 301  # 901 s after the first failure
    await alerts.tick()
    assert outbox.kinds == [("INBOX", "failing")]
    mail = outbox.mails[0]
    assert "connection refused" in mail.body and "What to do: Check the port." in mail.body
    assert mail.subject == "[bouncer] acme/INBOX is failing"
    clock.now += 60
    alerts.failed("acme", "INBOX", "still refused")
    await alerts.tick()
    assert len(outbox.mails) == 1  # no second failing mail
    clock.now += 3600
    alerts.ok("acme", "INBOX")
    await alerts.tick()
    assert outbox.kinds == [("INBOX", "failing"), ("INBOX", "recovered")]


async def test_short_failure_sends_nothing() -> None:
    alerts, clock, outbox = machine(after=900)
    alerts.failed("acme", "INBOX", "timeout")
    clock.now += 300
    alerts.ok("acme", "INBOX")
    clock.now += 5000
    await alerts.tick()
    assert outbox.mails == []


async def test_at_most_one_mail_per_folder_per_hour_even_when_flapping() -> None:
    alerts, clock, outbox = machine(after=60)
    alerts.failed("acme", "INBOX", "e1")
    clock.now += 61
    await alerts.tick()
    assert outbox.kinds == [("INBOX", "failing")]
    sent_at = clock.now
    # Recovers after 10 minutes: the recovery mail waits for the hour.
    clock.now += 600
    alerts.ok("acme", "INBOX")
    await alerts.tick()
    assert len(outbox.mails) == 1
    clock.now = sent_at + 3600
    await alerts.tick()
    assert outbox.kinds == [("INBOX", "failing"), ("INBOX", "recovered")]
    # Fails again right away and for long: the failing mail waits for the next hour.
    alerts.failed("acme", "INBOX", "e2")
    clock.now += 120
    await alerts.tick()
    assert len(outbox.mails) == 2
    clock.now = sent_at + 7200
    await alerts.tick()
    assert outbox.kinds[-1] == ("INBOX", "failing") and len(outbox.mails) == 3
    assert "e2" in outbox.mails[-1].body


async def test_recovery_then_new_failure_within_the_hour_tells_nothing_new() -> None:
    alerts, clock, outbox = machine(after=60)
    alerts.failed("acme", "INBOX", "e1")
    clock.now += 61
    await alerts.tick()
    clock.now += 300
    alerts.ok("acme", "INBOX")
    clock.now += 300
    alerts.failed("acme", "INBOX", "e2")
    clock.now += 3600
    await alerts.tick()
    assert outbox.kinds == [("INBOX", "failing")]  # it was failing, it is failing: nothing to add


async def test_folders_are_independent() -> None:
    alerts, clock, outbox = machine(after=60)
    alerts.failed("acme", "INBOX", "e")
    alerts.failed("acme", "Junk", "e")
    alerts.failed("other", "INBOX", "e")
    clock.now += 61
    await alerts.tick()
    assert sorted((m.account, m.folder) for m in outbox.mails) == [
        ("acme", "INBOX"),
        ("acme", "Junk"),
        ("other", "INBOX"),
    ]


async def test_a_mail_that_cannot_be_sent_is_retried_later_and_never_raises() -> None:
    alerts, clock, outbox = machine(after=60)
    outbox.fail = True
    alerts.failed("acme", "INBOX", "e")
    clock.now += 61
    await alerts.tick()  # does not raise
    outbox.fail = False
    clock.now += 10
    await alerts.tick()
    assert outbox.mails == []  # waits retry_after before trying again
    clock.now += 300
    await alerts.tick()
    assert outbox.kinds == [("INBOX", "failing")]


async def test_smtp_sender_sends_to_every_address(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context()))
    server = smtp_config(peer.port, ca_file=str(peer_tls.ca)).smtp["system"]
    config = AlertsConfig(to=("ops@example.org", "oncall@example.org"), after=60)
    await smtp_sender(server, config)(AlertMail("acme", "INBOX", "failing", "[bouncer] acme/INBOX is failing", "b\n"))
    assert len(peer.messages) == 1
    message = email.message_from_bytes(peer.messages[0], policy=policy.default)
    assert message["To"] == "ops@example.org, oncall@example.org"
    assert message["X-Bouncer-Alert"] == "failing; account=acme; folder=INBOX"
    assert peer.commands.count("RCPT") == 2


# --- forwarding ----------------------------------------------------------------------

ORIGINAL = (
    "From: =?utf-8?q?Zo=C3=AB?= <zoe@example.net>\r\n"
    "To: news@example.org\r\n"
    "Subject: Re: Noticias de =?utf-8?q?oto=C3=B1o?=\r\n"
    "Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n"
    "Message-ID: <reply-1@example.net>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Gracias, ¡nos vemos el viernes!\r\n"
    ".\r\n"
    "-- \r\nZoë\r\n"
).encode()


def test_forward_keeps_the_original_byte_for_byte() -> None:
    server = smtp_config(1).smtp["system"]
    raw = build_forward(server, "ops@example.org", ORIGINAL, "acme-bounces")
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Fwd: Re: Noticias de otoño"
    assert message["Reply-To"] == "Zoë <zoe@example.net>"
    assert message["Auto-Submitted"] == "auto-forwarded"
    cover, attached = list(message.iter_parts())
    assert "acme-bounces" in cover.get_content() and "Zoë <zoe@example.net>" in cover.get_content()
    assert attached.get_content_type() == "message/rfc822"
    assert ORIGINAL in raw  # spliced in unchanged (already CRLF)
    inner = attached.get_content()
    assert inner["Message-ID"] == "<reply-1@example.net>"


def test_forward_message_id_is_stable_per_message() -> None:
    server = smtp_config(1).smtp["system"]
    first = email.message_from_bytes(build_forward(server, "o@example.org", ORIGINAL, "a"), policy=policy.default)
    again = email.message_from_bytes(build_forward(server, "o@example.org", ORIGINAL, "a"), policy=policy.default)
    other = email.message_from_bytes(
        build_forward(server, "o@example.org", ORIGINAL + b"x", "a"), policy=policy.default
    )
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]


def test_forward_of_a_bare_lf_message_without_headers_we_expect() -> None:
    server = smtp_config(1).smtp["system"]
    raw = build_forward(server, "o@example.org", b"X-Odd: 1\n\nno from, no subject", "a", truncated=True)
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "Fwd: (no subject)" and message["Reply-To"] is None
    assert b"\r\nX-Odd: 1\r\n\r\nno from, no subject\r\n" in raw
    assert "only its header is attached" in next(iter(message.iter_parts())).get_content()  # type: ignore[attr-defined]


async def test_forward_message_through_smtp(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context()))
    server = smtp_config(peer.port, ca_file=str(peer_tls.ca)).smtp["system"]
    await forward_message(server, "ops@example.org", ORIGINAL, "acme-bounces")
    assert len(peer.messages) == 1
    assert ORIGINAL.replace(b"\r\n.\r\n", b"\r\n..\r\n") in peer.messages[0]  # dot-stuffed on the wire


async def test_forward_refused_raises_with_hint(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(
        SmtpScript(
            tls=peer_tls.server_context(),
            auth_reply="535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
        )
    )
    server = smtp_config(peer.port, ca_file=str(peer_tls.ca)).smtp["system"]
    with pytest.raises(SmtpError) as caught:
        await forward_message(server, "ops@example.org", ORIGINAL, "acme-bounces")
    assert caught.value.stage == "auth" and caught.value.code == 535
    assert caught.value.hint is not None and caught.value.hint.key == "office365-smtp-auth-disabled"
    assert peer.messages == []


async def test_run_ticks_until_cancelled() -> None:
    import asyncio

    alerts, clock, outbox = machine(after=60)
    sent = asyncio.Event()

    async def send(mail: AlertMail) -> None:
        await outbox(mail)
        sent.set()

    alerts.send = send
    task = asyncio.create_task(alerts.run(interval=0.01))
    alerts.failed("acme", "INBOX", "e")
    clock.now += 61
    async with asyncio.timeout(5):
        await sent.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outbox.kinds == [("INBOX", "failing")]


def test_hint_for_error_of_either_side() -> None:
    from bouncer.alerts import alerts_for, hint_for_error
    from bouncer.config import Config, ImapConfig
    from bouncer.hints import Hint
    from bouncer.sources.imap.connection import ImapAuthError, ImapConnectError

    imap = ImapConfig(host="outlook.office365.com", username="b@example.org", password="x")  # type: ignore[arg-type]
    refused = ImapAuthError("outlook.office365.com refused the login", server_text="AUTHENTICATE failed.")
    assert "OAuth2" in (hint_for_error(refused, imap) or "")
    assert "refused connections on port 993" in (hint_for_error(ImapConnectError("no", step="tcp"), imap) or "")
    smtp_error = SmtpError("auth", smtp_config(1).smtp["system"], "login refused", hint=Hint("k", "Do it."))
    assert hint_for_error(smtp_error) == "Do it."
    assert hint_for_error(RuntimeError("other")) is None
    assert alerts_for(Config()) is None
    config = Config.model_validate(
        {"smtp": {"system": {"host": "h", "from_address": "a@example.org"}}, "alerts": {"to": ["o@example.org"]}}
    )
    machine_ = alerts_for(config)
    assert machine_ is not None and machine_.config.after == 900


def test_only_peoples_mail_of_bounce_accounts_is_forwarded() -> None:
    from bouncer.analysis.result import Analysis
    from bouncer.analysis.taxonomy import Kind
    from bouncer.config import AccountConfig
    from bouncer.forward import should_forward

    def account(**settings: object) -> AccountConfig:
        return AccountConfig.model_validate({"name": "a", "tenant": "t", "maildir": "/m", **settings})

    forwarding = account(forward_other_to="ops@example.org")
    assert should_forward(forwarding, Analysis(kind=Kind.NOT_BOUNCE))
    for kind in (Kind.BOUNCE, Kind.DELAY, Kind.COMPLAINT, Kind.AUTOREPLY, Kind.DELIVERED):
        assert not should_forward(forwarding, Analysis(kind=kind)), kind
    assert not should_forward(forwarding, Analysis(kind=Kind.NOT_BOUNCE, error="analysis failed: X"))
    assert not should_forward(account(), Analysis(kind=Kind.NOT_BOUNCE))
    group = account(role="group", forward_other_to="ops@example.org")
    assert not should_forward(group, Analysis(kind=Kind.NOT_BOUNCE))
