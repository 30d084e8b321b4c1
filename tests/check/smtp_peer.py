"""Test helpers for tests/check: certificate files, a scripted SMTP server, configurations.

The scripted server is a few lines of asyncio that answer exactly as Gmail or Office 365
do, for the failures a local Postfix cannot produce.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bouncer.config import Config


@dataclass(frozen=True)
class PeerTls:
    ca: Path  # the private CA's certificate (what ca_file points to)
    cert: Path  # signed by the CA, for DNS:localhost (not for 127.0.0.1)
    key: Path
    self_signed_cert: Path  # for localhost, signed by nobody
    self_signed_key: Path

    def server_context(self, self_signed: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if self_signed:
            context.load_cert_chain(self.self_signed_cert, self.self_signed_key)
        else:
            context.load_cert_chain(self.cert, self.key)
        return context


# --- a scripted SMTP server ----------------------------------------------------------


@dataclass
class SmtpScript:
    """How the scripted server answers. Replies are sent exactly as written (multi-line with \\n)."""

    greeting: str | None = "220 smtp.example.test ESMTP ready"  # None: accept and say nothing
    extensions: tuple[str, ...] = ("SIZE 35882577", "8BITMIME", "STARTTLS", "AUTH LOGIN PLAIN", "ENHANCEDSTATUSCODES")
    extensions_after_tls: tuple[str, ...] = ("SIZE 35882577", "8BITMIME", "AUTH LOGIN PLAIN", "ENHANCEDSTATUSCODES")
    auth_reply: str = "235 2.7.0 Accepted"
    mail_reply: str = "250 2.1.0 OK"
    rcpt_reply: str = "250 2.1.5 OK"
    data_reply: str = "250 2.0.0 OK queued as 1A2B3C"
    tls: ssl.SSLContext | None = None  # for STARTTLS (or implicit TLS)
    implicit_tls: bool = False


@dataclass
class ScriptedSmtp:
    script: SmtpScript
    port: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)  # (username, password) as received
    messages: list[bytes] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _reply(self, writer: asyncio.StreamWriter, reply: str) -> None:
        lines = reply.split("\n")
        for line in lines:
            writer.write(line.encode() + b"\r\n")
        await writer.drain()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script = self.script
        if script.greeting is None:
            await reader.read()  # say nothing until the client gives up
            return
        await self._reply(writer, script.greeting)
        encrypted = script.implicit_tls
        async with asyncio.timeout(30):
            while line := (await reader.readline()).decode().rstrip("\r\n"):
                verb, _, argument = line.partition(" ")
                verb = verb.upper()
                self.commands.append(verb)
                if verb in ("EHLO", "HELO"):
                    extensions = script.extensions_after_tls if encrypted else script.extensions
                    lines = ["smtp.example.test at your service", *extensions]
                    reply = "\n".join(f"250{'-' if i < len(lines) - 1 else ' '}{text}" for i, text in enumerate(lines))
                    await self._reply(writer, reply)
                elif verb == "STARTTLS" and script.tls is not None and not encrypted:
                    await self._reply(writer, "220 2.0.0 Ready to start TLS")
                    await writer.start_tls(script.tls)
                    encrypted = True
                elif verb == "AUTH":
                    await self._auth(reader, writer, argument)
                elif verb == "MAIL":
                    await self._reply(writer, script.mail_reply)
                elif verb == "RCPT":
                    await self._reply(writer, script.rcpt_reply)
                elif verb == "DATA":
                    await self._reply(writer, "354 Go ahead")
                    data = bytearray()
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        data += chunk
                    self.messages.append(bytes(data))
                    await self._reply(writer, script.data_reply)
                elif verb == "QUIT":
                    await self._reply(writer, "221 2.0.0 closing connection")
                    return
                elif verb in ("RSET", "NOOP"):
                    await self._reply(writer, "250 2.0.0 OK")
                else:
                    await self._reply(writer, "502 5.5.1 Unrecognized command.")

    async def _auth(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, argument: str) -> None:
        mechanism, _, initial = argument.partition(" ")
        if mechanism.upper() == "PLAIN":
            if not initial:
                await self._reply(writer, "334 ")
                initial = (await reader.readline()).decode().strip()
            _, username, password = base64.b64decode(initial).decode().split("\0")
        elif mechanism.upper() == "LOGIN":
            await self._reply(writer, "334 VXNlcm5hbWU6")
            username = base64.b64decode((await reader.readline()).strip()).decode()
            await self._reply(writer, "334 UGFzc3dvcmQ6")
            password = base64.b64decode((await reader.readline()).strip()).decode()
        else:
            await self._reply(writer, "504 5.7.4 Unrecognized authentication type.")
            return
        self.logins.append((username, password))
        await self._reply(writer, self.script.auth_reply)


def smtp_config(port: int, **overrides: Any) -> Config:
    """A configuration with one SMTP server, smtp.system, at localhost:port."""
    system: dict[str, Any] = {
        "host": "localhost",
        "port": port,
        "security": "starttls",
        "username": "crm@example.org",
        "password": "correct horse battery staple",
        "from_address": "crm@example.org",
        "timeout": 5,
    }
    system.update(overrides)
    system = {k: v for k, v in system.items() if v is not None}
    return Config.model_validate({"smtp": {"system": system}})
