"""Steps shared by IMAP and SMTP checks: DNS, TCP and the certificate's dates."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import UTC, datetime
from typing import Literal

from bouncer.check.result import Outcome, Status, StepFailed
from bouncer.config import ImapConfig, SmtpAccountConfig
from bouncer.hints import connect_refused_hint, connect_timeout_hint, dns_hint, tls_expiry_hint
from bouncer.tls import CertificateInfo

EXPIRY_WARNING_DAYS = 14


def _protocol(server: ImapConfig | SmtpAccountConfig) -> Literal["smtp", "imap"]:
    return "smtp" if isinstance(server, SmtpAccountConfig) else "imap"


async def check_dns(server: ImapConfig | SmtpAccountConfig) -> Outcome:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(server.timeout):
            infos = await loop.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise StepFailed(f"no DNS answer for {server.host} within {server.timeout:g}s", dns_hint(server.host)) from None
    except socket.gaierror as exc:
        raise StepFailed(f"{server.host} does not resolve ({exc.strerror})", dns_hint(server.host)) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    shown = ", ".join(addresses[:4]) + (f" and {len(addresses) - 4} more" if len(addresses) > 4 else "")
    return Outcome(f"{server.host} -> {shown}")


async def check_tcp(server: ImapConfig | SmtpAccountConfig) -> Outcome:
    """Open and close a TCP connection: tells a closed port from a filtered one before any protocol."""
    try:
        async with asyncio.timeout(server.timeout):
            _, writer = await asyncio.open_connection(server.host, server.port)
    except TimeoutError:
        raise StepFailed(
            f"no answer from {server.host} port {server.port} within {server.timeout:g}s",
            connect_timeout_hint(_protocol(server), server.host, server.port),
        ) from None
    except ConnectionRefusedError:
        raise StepFailed(
            f"{server.host} refused the connection on port {server.port}",
            connect_refused_hint(server.host, server.port),
        ) from None
    except OSError as exc:
        raise StepFailed(f"cannot connect to {server.host} port {server.port}: {exc.strerror or exc}") from None
    peer = writer.get_extra_info("peername")
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(2):
            await writer.wait_closed()
    where = f"{peer[0]} port {peer[1]}" if isinstance(peer, tuple) else f"port {server.port}"
    return Outcome(f"connected to {where}")


def certificate_outcome(host: str, certificate: CertificateInfo | None, now: datetime | None = None) -> Outcome:
    """OK with the certificate's dates, WARN when it expires within two weeks."""
    if certificate is None:
        return Outcome("encrypted, but no certificate details were available", Status.WARN)
    days = certificate.days_left(now or datetime.now(UTC))
    detail = f"{certificate.describe()} ({days} day{'' if days == 1 else 's'} left)"
    if days < EXPIRY_WARNING_DAYS:
        return Outcome(detail, Status.WARN, tls_expiry_hint(host, days))
    return Outcome(detail)
