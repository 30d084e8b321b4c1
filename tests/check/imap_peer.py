"""A scripted IMAP server that answers as Exchange Online (outlook.office365.com) does.

Dovecot cannot produce Microsoft's replies; this one greets, announces its capabilities
and refuses every password exactly as Exchange Online does since basic authentication was
switched off for IMAP ("NO LOGIN failed." / "NO AUTHENTICATE failed.").
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

GREETING = "* OK The Microsoft Exchange IMAP4 service is ready. [QQBNADQAUABSADAAMgBDAEEAMAAwADAAMQAuAGUA]"
CAPABILITIES = (
    "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+"
)


@dataclass
class ScriptedExchangeImap:
    tls: ssl.SSLContext
    port: int = 0
    commands: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def start(self) -> ScriptedExchangeImap:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(*lines: str) -> None:
            for line in lines:
                writer.write(line.encode() + b"\r\n")

        try:
            send(GREETING)
            async with asyncio.timeout(30):
                while line := (await reader.readline()).decode().rstrip("\r\n"):
                    tag, _, rest = line.partition(" ")
                    command = rest.split(" ", 1)[0].upper()
                    self.commands.append(command)
                    if command == "CAPABILITY":
                        send(f"* CAPABILITY {CAPABILITIES}", f"{tag} OK CAPABILITY completed.")
                    elif command == "LOGIN":
                        send(f"{tag} NO LOGIN failed.")
                    elif command == "AUTHENTICATE":
                        send(f"{tag} NO AUTHENTICATE failed.")
                    elif command == "ID":
                        send('* ID ("name" "Microsoft.Exchange.Imap4.Imap4Server")', f"{tag} OK ID completed.")
                    elif command == "LOGOUT":
                        send("* BYE Microsoft Exchange Server IMAP4 server signing off.", f"{tag} OK LOGOUT completed.")
                        await writer.drain()
                        return
                    else:
                        send(f"{tag} BAD User is not authenticated.")
                    await writer.drain()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass
        finally:
            writer.close()
