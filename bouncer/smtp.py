"""The SMTP client side: connect, encrypt, log in and send, with aiosmtplib.

Certificates are always verified (against the system's CAs plus the server's ``ca_file``).
Every network step has the server's ``timeout``. A failure is raised as :class:`SmtpError`:
one sentence naming the stage that failed and the server's reply, plus a :class:`Hint` when
the failure is a known one. Secrets never appear in either.

``bouncer check`` calls the stages one by one (:func:`connect`, :func:`secure`,
:func:`authenticate`) to time them; everything else uses :func:`send_message`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Literal

import aiosmtplib

from bouncer.config import SmtpAccountConfig
from bouncer.credentials import credential_for
from bouncer.errors import BouncerError
from bouncer.hints import (
    Hint,
    connect_refused_hint,
    connect_timeout_hint,
    dns_hint,
    greeting_timeout_hint,
    plain_port_with_tls_hint,
    reply_hint,
    smtp_auth_not_offered_hint,
    starttls_unsupported_hint,
    tls_verify_hint,
)
from bouncer.tls import CaFileError, CertificateInfo, certificate_info, client_context

Stage = Literal["connect", "tls", "auth", "send"]

# The name bouncer gives itself in EHLO: a fixed one, because socket.getfqdn() can block for
# seconds on a machine without reverse DNS, and the receiving servers do not care.
LOCAL_HOSTNAME = "bouncer.localdomain"
QUIT_TIMEOUT = 5.0


class SmtpError(BouncerError):
    """An SMTP step that failed; ``str()`` is one sentence for the user (no secrets)."""

    def __init__(
        self,
        stage: Stage,
        server: SmtpAccountConfig,
        what: str,
        *,
        code: int | None = None,
        reply: str = "",
        hint: Hint | None = None,
    ) -> None:
        self.stage = stage
        self.host = server.host
        self.port = server.port
        self.code = code
        self.reply = " ".join(reply.split())
        self.hint = hint
        reply_part = f": {code} {self.reply}" if code is not None else (f": {self.reply}" if self.reply else "")
        super().__init__(f"{server.host}:{server.port}: {what}{reply_part}")


def peer_certificate(smtp: aiosmtplib.SMTP) -> CertificateInfo | None:
    return certificate_info(smtp.get_transport_info("ssl_object"))


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in ``exc``'s chain of causes (aiosmtplib wraps OSErrors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _classify_tls_error(exc: BaseException, server: SmtpAccountConfig) -> tuple[str, Hint] | None:
    """A TLS failure anywhere in ``exc``'s chain -> (what happened, hint)."""
    verify = _find(exc, ssl.SSLCertVerificationError)
    if isinstance(verify, ssl.SSLCertVerificationError):
        what = f"certificate not accepted ({verify.verify_message or verify.reason})"
        return what, tls_verify_hint(verify, server.host, server.ca_file is not None)
    tls = _find(exc, ssl.SSLError)
    if isinstance(tls, ssl.SSLError):
        reason = tls.reason or str(tls)
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
            return f"TLS handshake failed ({reason})", plain_port_with_tls_hint("smtp", server.port)
        return f"TLS handshake failed ({reason})", Hint(
            "tls-failed", "The TLS handshake failed: check that security matches the port and the server's TLS setup."
        )
    return None


def _classify(exc: BaseException, stage: Stage, server: SmtpAccountConfig) -> SmtpError:
    """Turn whatever aiosmtplib or the OS raised into one SmtpError with the right hint."""
    if isinstance(exc, SmtpError):
        return exc
    if isinstance(exc, CaFileError):
        return SmtpError("tls", server, str(exc))
    tls = _classify_tls_error(exc, server)
    if tls is not None:
        return SmtpError("tls", server, tls[0], hint=tls[1])
    # A refusal of all recipients is told by the first one's reply.
    reply = exc.recipients[0] if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) else exc
    if isinstance(reply, aiosmtplib.SMTPResponseException):
        if isinstance(reply, aiosmtplib.SMTPAuthenticationError):
            stage, what = "auth", "login refused"
        elif isinstance(reply, aiosmtplib.SMTPRecipientRefused):
            what = f"recipient {reply.recipient} refused"
        elif isinstance(reply, aiosmtplib.SMTPSenderRefused):
            what = f"sender {reply.sender} refused"
        else:
            what = "the server refused"
        hint = reply_hint("smtp", server.host, reply.message, reply.code)
        return SmtpError(stage, server, what, code=reply.code, reply=reply.message, hint=hint)
    gaierror = _find(exc, socket.gaierror)
    if gaierror is not None:
        return SmtpError("connect", server, f"host name does not resolve ({gaierror})", hint=dns_hint(server.host))
    if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError) or (stage == "connect" and isinstance(exc, TimeoutError)):
        if "ready message" in str(exc):  # connected, but no 220 greeting came
            return SmtpError(
                "connect",
                server,
                f"no greeting within {server.timeout:g}s",
                hint=greeting_timeout_hint("smtp", server.port, server.security),
            )
        return SmtpError(
            "connect",
            server,
            f"no answer within {server.timeout:g}s",
            hint=connect_timeout_hint("smtp", server.host, server.port),
        )
    if _find(exc, ConnectionRefusedError) is not None:
        return SmtpError("connect", server, "connection refused", hint=connect_refused_hint(server.host, server.port))
    if isinstance(exc, TimeoutError):
        return SmtpError(stage, server, f"no answer within {server.timeout:g}s")
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return SmtpError(stage, server, str(exc) or type(exc).__name__)
    raise exc


async def connect(server: SmtpAccountConfig) -> aiosmtplib.SMTP:
    """Open the connection (TLS first for ``security: tls``), read the greeting, say EHLO."""
    try:
        tls_context = client_context(server.ca_file) if server.security == "tls" else None
    except CaFileError as exc:
        raise _classify(exc, "connect", server) from None
    smtp = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        timeout=server.timeout,
        use_tls=server.security == "tls",
        start_tls=False,
        tls_context=tls_context,
        local_hostname=LOCAL_HOSTNAME,
    )
    try:
        async with asyncio.timeout(server.timeout * 2):
            await smtp.connect()
            await smtp.ehlo()
    except (Exception, asyncio.CancelledError) as exc:
        smtp.close()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise _classify(exc, "connect", server) from None
    return smtp


async def secure(smtp: aiosmtplib.SMTP, server: SmtpAccountConfig) -> None:
    """STARTTLS for ``security: starttls`` (then EHLO again); nothing for the other modes."""
    if server.security != "starttls":
        return
    if not smtp.supports_extension("starttls"):
        raise SmtpError("tls", server, "STARTTLS is not offered", hint=starttls_unsupported_hint("smtp"))
    try:
        async with asyncio.timeout(server.timeout * 2):
            await smtp.starttls(tls_context=client_context(server.ca_file), timeout=server.timeout)
            await smtp.ehlo()
    except Exception as exc:
        smtp.close()
        raise _classify(exc, "tls", server) from None


async def authenticate(smtp: aiosmtplib.SMTP, server: SmtpAccountConfig) -> bool:
    """Log in when the server has a credential; False when it has none (a relay trusting this host)."""
    credential = credential_for(server)
    if credential is None:
        return False
    if not smtp.supports_extension("auth"):
        smtp.close()
        raise SmtpError("auth", server, "the server offers no AUTH", hint=smtp_auth_not_offered_hint(server.security))
    # One attempt with one mechanism: aiosmtplib's login() would retry a refused password with
    # every other mechanism, and a provider counts each refusal towards locking the account.
    offered = [method.lower() for method in smtp.server_auth_methods]
    if credential.mechanism == "login" and not {"plain", "login", "cram-md5"} & set(offered):
        smtp.close()
        raise SmtpError(
            "auth",
            server,
            f"the server offers no password mechanism bouncer speaks ({', '.join(offered).upper()})",
            hint=smtp_auth_not_offered_hint(server.security),
        )
    try:
        secret = await credential.secret()
        async with asyncio.timeout(server.timeout * 2):
            if credential.mechanism == "xoauth2":
                await smtp.auth_xoauth2(credential.username, secret, timeout=server.timeout)
            elif "plain" in offered:
                await smtp.auth_plain(credential.username, secret, timeout=server.timeout)
            elif "login" in offered:
                await smtp.auth_login(credential.username, secret, timeout=server.timeout)
            else:
                await smtp.auth_crammd5(credential.username, secret, timeout=server.timeout)
    except Exception as exc:
        smtp.close()
        raise _classify(exc, "auth", server) from None
    return True


async def open_smtp(server: SmtpAccountConfig) -> aiosmtplib.SMTP:
    """A connected, encrypted (as configured) and logged-in SMTP session."""
    smtp = await connect(server)
    await secure(smtp, server)
    await authenticate(smtp, server)
    return smtp


async def quit_quietly(smtp: aiosmtplib.SMTP) -> None:
    """QUIT politely; a server that already went away is no error here."""
    try:
        async with asyncio.timeout(QUIT_TIMEOUT):
            await smtp.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        smtp.close()


async def deliver(
    smtp: aiosmtplib.SMTP,
    server: SmtpAccountConfig,
    message: EmailMessage | bytes,
    recipients: Sequence[str],
    sender: str | None = None,
) -> str:
    """Send one message on an open session (MAIL FROM defaults to the server's from_address).

    Returns the server's final reply (e.g. ``2.0.0 Ok: queued as 4F1B2C``).
    """
    try:
        async with asyncio.timeout(server.timeout * 3):
            if isinstance(message, bytes):
                _, reply = await smtp.sendmail(
                    sender or server.from_address, list(recipients), message, timeout=server.timeout
                )
            else:
                _, reply = await smtp.send_message(
                    message, sender=sender or server.from_address, recipients=list(recipients), timeout=server.timeout
                )
    except Exception as exc:
        raise _classify(exc, "send", server) from None
    return reply


async def send_message(
    server: SmtpAccountConfig,
    message: EmailMessage | bytes,
    recipients: Sequence[str],
    sender: str | None = None,
) -> str:
    """Connect, log in, send one message and quit; raises :class:`SmtpError` on any failure."""
    smtp = await open_smtp(server)
    try:
        return await deliver(smtp, server, message, recipients, sender)
    finally:
        await quit_quietly(smtp)
