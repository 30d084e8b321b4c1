"""Helpers for the daemon tests: message builders, Maildir delivery, what the store holds.

Everything runs against the real analysis engine and the real store.
"""

from __future__ import annotations

import hashlib
import os
import time
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bouncer.store import Store

# --- messages ------------------------------------------------------------------------


def campaign_original(recipient: str, tracker_key: str) -> str:
    return (
        f"From: Fundacio Exemple <butlleti@fundacio.example>\r\n"
        f"To: {recipient}\r\n"
        f"Subject: Butlleti de novembre\r\n"
        f"Message-ID: <{tracker_key}@crm.fundacio.example>\r\n"
        f"X-CampTrackID: {tracker_key}\r\n"
        f"Date: {formatdate()}\r\n\r\n"
        f"Hola! https://crm.fundacio.example/index.php?entryPoint=removeme&identifier={tracker_key}\r\n"
    )


def dsn(recipient: str, tracker_key: str, *, status: str = "5.1.1", action: str = "failed") -> bytes:
    """An RFC 3464 delivery status notification, as Postfix writes them."""
    boundary = "B" + hashlib.sha1(f"{recipient}{tracker_key}{status}".encode()).hexdigest()[:12]
    diagnostic = f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
    if status.startswith("4"):
        diagnostic = f"smtp; 452 4.2.2 <{recipient}>: Mailbox full"
    return (
        f"From: MAILER-DAEMON@mx.fundacio.example (Mail Delivery System)\r\n"
        f"To: butlleti@fundacio.example\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid('dsn')}\r\n"
        f"Date: {formatdate()}\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.fundacio.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n{campaign_original(recipient, tracker_key)}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def complaint(recipient: str, tracker_key: str) -> bytes:
    boundary = "ARF" + tracker_key[:8]
    return (
        f"From: feedback@fbl.example\r\nTo: butlleti@fundacio.example\r\nSubject: complaint\r\n"
        f"Message-ID: {make_msgid('arf')}\r\nDate: {formatdate()}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: fbl/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: {recipient}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n{campaign_original(recipient, tracker_key)}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def autoreply(sender: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: butlleti@fundacio.example\r\nSubject: Fora de l'oficina\r\n"
        f"Message-ID: {make_msgid('ooo')}\r\nDate: {formatdate()}\r\nAuto-Submitted: auto-replied\r\n\r\n"
        "Torno el dilluns.\r\n"
    ).encode()


def personal(sender: str, text: str = "Em podeu donar de baixa?") -> bytes:
    return (
        f"From: {sender}\r\nTo: butlleti@fundacio.example\r\nSubject: Re: Butlleti de novembre\r\n"
        f"Message-ID: {make_msgid('person')}\r\nDate: {formatdate()}\r\n\r\n{text}\r\n"
    ).encode()


# --- Maildir -------------------------------------------------------------------------

_counter = 0


def make_maildir(path: Path) -> Path:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def deliver(maildir: Path, raw: bytes, *, subdir: str = "new", flags: str | None = None) -> str:
    """Deliver like an MDA: write in tmp/, then rename into new/ (or cur/). Returns the base name."""
    global _counter
    _counter += 1
    base = f"{time.time_ns()}.M{_counter}P{os.getpid()}.test"
    temporary = maildir / "tmp" / base
    temporary.write_bytes(raw)
    name = base if flags is None else f"{base}:2,{flags}"
    os.replace(temporary, maildir / subdir / name)
    return base


def files(maildir: Path) -> dict[str, bytes]:
    """Every message file of a maildir folder, as 'subdir/name' -> bytes."""
    found: dict[str, bytes] = {}
    for sub in ("new", "cur"):
        directory = maildir / sub
        if directory.is_dir():
            for item in sorted(directory.iterdir()):
                if not item.name.startswith("."):
                    found[f"{sub}/{item.name}"] = item.read_bytes()
    return found


# --- what the store holds ------------------------------------------------------------


async def recorded(store: Store, where: str = "true") -> list[dict[str, Any]]:
    """Rows of inbound_messages, oldest first, as dicts."""
    async with store.engine.connect() as connection:
        result = await connection.execute(text(f"select * from inbound_messages where {where} order by id"))
        return [dict(row._mapping) for row in result]


async def kinds(store: Store) -> list[str]:
    return sorted(row["kind"] for row in await recorded(store))


def names(maildir: Path) -> set[str]:
    """The message file names of a maildir folder (new/ and cur/), without reading them: safe
    while a daemon is moving them."""
    found: set[str] = set()
    for sub in ("new", "cur"):
        directory = maildir / sub
        if directory.is_dir():
            found.update(name for name in os.listdir(directory) if not name.startswith("."))
    return found
