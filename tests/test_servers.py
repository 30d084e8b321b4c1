"""Smoke tests of the private test servers (tests/servers.py): if these fail, nothing else can pass."""

from __future__ import annotations

import email
import imaplib
import secrets
import ssl
from email.message import Message

import asyncpg
import pytest
from servers import Dovecot, MailUser, Postfix, PrivatePostgres, send_campaign_mail, wait_for, wait_until

pytestmark = pytest.mark.integration


def _context(dovecot: Dovecot) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    return context


def test_dovecot_login_plain_starttls_and_tls(dovecot: Dovecot, mail_user: MailUser) -> None:
    plain = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    assert "STARTTLS" in plain.capabilities
    plain.login(mail_user.address, mail_user.password)
    plain.logout()

    starttls = imaplib.IMAP4("localhost", dovecot.imap_port, timeout=10)
    starttls.starttls(_context(dovecot))  # verifies the chain and the host name
    starttls.login(mail_user.address, mail_user.password)
    _typ, caps = starttls.capability()
    for needed in (b"IDLE", b"MOVE", b"UIDPLUS", b"SPECIAL-USE", b"QUOTA"):
        assert needed in caps[0].split(), needed
    starttls.logout()

    implicit = imaplib.IMAP4_SSL("localhost", dovecot.imaps_port, ssl_context=_context(dovecot), timeout=10)
    implicit.login(mail_user.address, mail_user.password)
    implicit.logout()

    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10).login(mail_user.address, "wrong")


def test_dovecot_tls_is_rejected_without_the_test_ca(dovecot: Dovecot) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL("localhost", dovecot.imaps_port, ssl_context=ssl.create_default_context(), timeout=10)


def test_dovecot_has_a_special_use_junk_folder(dovecot: Dovecot, mail_user: MailUser) -> None:
    with dovecot.session(mail_user) as client:
        _typ, lines = client.list()
    junk = [line for line in lines if isinstance(line, bytes) and line.endswith(b"Junk")]
    assert junk and b"\\Junk" in junk[0]


def _dsn(dovecot: Dovecot, bounce_user: MailUser) -> Message:
    messages = wait_until(lambda: dovecot.messages(bounce_user, "INBOX"), timeout=20)
    assert len(messages) == 1
    (_, raw), *_ = messages.values()
    return email.message_from_bytes(raw)


def _status(report: Message) -> tuple[str, str]:
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = {part.get_content_type(): part for part in report.walk()}
    status = parts["message/delivery-status"]
    fields = {k.lower(): v for block in status.get_payload() for k, v in block.items()}
    return fields["status"], fields["final-recipient"]


def test_postfix_bounce_for_an_unknown_user_reaches_the_bounce_mailbox(
    dovecot: Dovecot, postfix: Postfix, mail_user: MailUser
) -> None:
    missing = f"nobody-{secrets.token_hex(3)}@{postfix.domain}"
    send_campaign_mail(postfix.smtp_port, missing, "11111111-2222-3333-4444-555555555555", mail_user.address)
    report = _dsn(dovecot, mail_user)
    status, recipient = _status(report)
    assert status == "5.1.1"
    assert missing in recipient
    assert b"X-CampTrackID: 11111111-2222-3333-4444-555555555555" in report.as_bytes()


def test_a_full_mailbox_produces_a_5_2_2_dsn(dovecot: Dovecot, postfix: Postfix, mail_user: MailUser) -> None:
    full = dovecot.add_user(quota="1K")
    send_campaign_mail(postfix.smtp_port, full.address, "aaaa-bbbb", mail_user.address)
    status, recipient = _status(_dsn(dovecot, mail_user))
    assert status == "5.2.2"
    assert full.address in recipient


def test_dovecot_can_be_stopped_and_started_mid_test(running_dovecot: Dovecot, mail_user: MailUser) -> None:
    running_dovecot.stop()
    with pytest.raises(ConnectionRefusedError):
        imaplib.IMAP4(running_dovecot.host, running_dovecot.imap_port, timeout=5)
    running_dovecot.start()
    with running_dovecot.session(mail_user) as client:
        assert client.noop()[0] == "OK"


async def test_private_postgres_stops_and_starts(private_pg: PrivatePostgres) -> None:
    url = private_pg.create_database()
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn, timeout=10)
    assert await conn.fetchval("select 1") == 1
    await conn.close()
    private_pg.stop()
    with pytest.raises(OSError):
        await asyncpg.connect(dsn, timeout=5)
    private_pg.start()

    async def reachable() -> bool:
        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()
        return True

    assert await wait_for(reachable, timeout=10)
