"""The steps of one SMTP server: DNS, TCP, greeting, TLS, login, sender, and a test message."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

import aiosmtplib

from bouncer import __version__
from bouncer.check.net import certificate_outcome, check_dns, check_tcp
from bouncer.check.result import Outcome, Status, TargetRun
from bouncer.config import SmtpAccountConfig
from bouncer.credentials import credential_for
from bouncer.hints import GMAIL_HOST, GMAIL_LIMITS, Hint, sender_mismatch_hint
from bouncer.smtp import authenticate, connect, deliver, peer_certificate, quit_quietly, secure


def test_message(name: str, server: SmtpAccountConfig, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((server.from_name or "bouncer", server.from_address))
    message["To"] = to
    message["Subject"] = f"bouncer test message (smtp {name})"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid("bouncer-check", domain=server.from_address.rsplit("@", 1)[1])
    message["Auto-Submitted"] = "auto-generated"  # so auto-responders stay quiet
    message.set_content(
        f"This message was sent by `bouncer check --send-test` (bouncer {__version__}) through the SMTP "
        f"server configured as smtp.{name} ({server.host} port {server.port}, security {server.security}).\n\n"
        f"If you can read it, that server delivers mail from {server.from_address}.\n"
    )
    return message


async def check_smtp(name: str, server: SmtpAccountConfig, send_test_to: str | None = None) -> TargetRun:
    run = TargetRun(f"smtp {name} ({server.host}:{server.port}, {server.security})")
    session: list[aiosmtplib.SMTP] = []  # the open session, shared by the steps below

    async def dns() -> Outcome:
        return await check_dns(server)

    async def tcp() -> Outcome:
        return await check_tcp(server)

    async def greeting() -> Outcome:
        smtp = await connect(server)
        session.append(smtp)
        ready = " ".join((smtp.last_ehlo_response.message if smtp.last_ehlo_response else "").split()[:1])
        extensions = sorted(smtp.esmtp_extensions)
        detail = f"EHLO answered by {ready or server.host}; offers {', '.join(e.upper() for e in extensions) or '-'}"
        return Outcome(detail)

    async def tls() -> Outcome:
        smtp = session[0]
        if server.security == "none":
            if credential_for(server) is not None:
                return Outcome(
                    "not encrypted: the password would cross the network in clear",
                    Status.WARN,
                    Hint("smtp-unencrypted-login", "Set security: starttls (port 587) or security: tls (port 465)."),
                )
            return Outcome("not encrypted (security: none, no login)")
        await secure(smtp, server)
        return certificate_outcome(server.host, peer_certificate(smtp))

    async def login() -> Outcome:
        smtp = session[0]
        if not await authenticate(smtp, server):
            return Outcome("no username configured: sends without logging in")
        mechanisms = smtp.server_auth_methods
        return Outcome(f"logged in as {server.username} (server offers {', '.join(mechanisms).upper() or 'AUTH'})")

    async def sender() -> Outcome:
        mismatch = sender_mismatch_hint(server.host, server.username, server.from_address)
        if mismatch is not None:
            return Outcome(f"from {server.from_address}, login {server.username}", Status.WARN, mismatch)
        detail = f"from {server.from_address}"
        if GMAIL_HOST.search(server.host):
            detail += f"; note: {GMAIL_LIMITS}"
        return Outcome(detail)

    async def send_test() -> Outcome:
        assert send_test_to is not None
        smtp = session[0]
        reply = await deliver(smtp, server, test_message(name, server, send_test_to), [send_test_to])
        return Outcome(f"test message to {send_test_to} accepted: {' '.join(reply.split())}")

    try:
        await run.step("dns", dns)
        await run.step("tcp", tcp)
        await run.step("greeting", greeting)
        await run.step("tls", tls)
        await run.step("login", login)
        await run.step("sender", sender)
        if send_test_to is not None:
            await run.step("send test", send_test)
    finally:
        for smtp in session:
            await quit_quietly(smtp)
    return run
