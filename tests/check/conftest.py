"""Fixtures for `bouncer check`, the SMTP client, forwarding and alerts.

* ``peer_tls``: a private CA, a certificate it signs for ``localhost``, and a self-signed
  one, made with the openssl command (installed by scripts/test.sh).
* ``scripted_smtp``: a few lines of asyncio that answer exactly as Gmail or Office 365 do
  for the failures a local Postfix cannot produce. It binds a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from smtp_peer import PeerTls, ScriptedSmtp, SmtpScript


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def peer_tls(tmp_path_factory: pytest.TempPathFactory) -> PeerTls:
    folder = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=bouncer test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder)
    (folder / "server.ext").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "30", "-extfile", "server.ext",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "30", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost",
        cwd=folder,
    )  # fmt: skip
    return PeerTls(
        folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "self.pem", folder / "self.key"
    )


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


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
