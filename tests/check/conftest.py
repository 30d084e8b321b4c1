"""Fixtures for `bouncer check`, the SMTP client, forwarding and alerts.

* ``peer_tls``: the harness's private CA and the certificate it signs for ``localhost``,
  plus a self-signed one, made with the openssl command (installed by scripts/test.sh).
* ``scripted_smtp``: a few lines of asyncio that answer exactly as Gmail or Office 365 do
  for the failures a local Postfix cannot produce. It binds a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from servers import make_tls_files
from smtp_peer import PeerTls, ScriptedSmtp, SmtpScript


@pytest.fixture(scope="session")
def peer_tls(tmp_path_factory: pytest.TempPathFactory) -> PeerTls:
    folder = tmp_path_factory.mktemp("tls")
    signed = make_tls_files(folder, days=30)  # more than check's two weeks of expiry warning
    self_signed_cert, self_signed_key = folder / "self.pem", folder / "self.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", self_signed_key, "-out", self_signed_cert, "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return PeerTls(signed.ca_cert, signed.server_cert, signed.server_key, self_signed_cert, self_signed_key)


@pytest.fixture
async def scripted_smtp() -> AsyncIterator[Callable[[SmtpScript], Any]]:
    """A factory: ``server = await scripted_smtp(SmtpScript(...))`` -> a running ScriptedSmtp."""
    servers: list[asyncio.Server] = []

    async def start(script: SmtpScript) -> ScriptedSmtp:
        peer = ScriptedSmtp(script)
        ssl_context = script.tls if script.implicit_tls else None
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0, ssl=ssl_context)
        servers.append(server)
        peer.port = server.sockets[0].getsockname()[1]
        return peer

    yield start
    for server in servers:
        server.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await server.wait_closed()
