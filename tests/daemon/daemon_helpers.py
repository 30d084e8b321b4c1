"""Helpers for the daemon tests: message builders, Maildir delivery, and stand-ins.

``MemoryStore`` and ``stand_in_analyse`` stand in for the Store and the analysis engine
only until those land on main; the tests switch to the real ones then.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, make_msgid
from pathlib import Path

from bouncer.analysis import AnalysisOptions
from bouncer.analysis.result import Analysis, Recipient
from bouncer.analysis.taxonomy import Kind, Reason, is_hard
from bouncer.pipeline import ToRecord
from bouncer.sources.base import Checkpoint, Handled, PendingDisposition

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


# --- stand-ins ---------------------------------------------------------------------------


def stand_in_analyse(raw: bytes, options: AnalysisOptions) -> Analysis:
    """A tiny RFC 3464 / 5965 / 3834 reader, enough to drive the daemon until the engine lands."""
    text = raw.decode("utf-8", "replace")
    head = text.split("\r\n\r\n", 1)[0].lower()
    tracker = re.search(r"X-CampTrackID:\s*(\S+)", text)
    key = tracker.group(1) if tracker else None
    if "report-type=delivery-status" in head:
        recipients = []
        for block in re.finditer(r"Final-Recipient:\s*rfc822;\s*(\S+)\r\nAction:\s*(\w+)\r\nStatus:\s*(\S+)", text):
            status = block.group(3)
            reason = Reason.USERUNKNOWN if status == "5.1.1" else Reason.MAILBOXFULL
            recipients.append(
                Recipient(block.group(1).lower(), block.group(2), status, reason=reason, hard=is_hard(reason, status))
            )
        kind = Kind.DELAY if all(r.action == "delayed" for r in recipients) else Kind.BOUNCE
        return Analysis(kind=kind, recipients=tuple(recipients), tracker_key=key)
    if "report-type=feedback-report" in head:
        rcpt = re.search(r"Original-Rcpt-To:\s*(\S+)", text)
        address = rcpt.group(1) if rcpt else ""
        return Analysis(kind=Kind.COMPLAINT, recipients=(Recipient(address, reason=Reason.FEEDBACK),), tracker_key=key)
    if "auto-submitted: auto-replied" in head:
        return Analysis(kind=Kind.AUTOREPLY)
    return Analysis(kind=Kind.NOT_BOUNCE)


class DatabaseDown(ConnectionError):
    pass


@dataclass
class StoredRecord:
    inbound_id: int
    item: ToRecord
    disposed: bool = False


@dataclass
class MemoryStore:
    """Stands in for bouncer.store.Store until it lands: idempotent per (account, sha256)."""

    records: dict[tuple[str, str], StoredRecord] = field(default_factory=dict)
    states: dict[tuple[str, str], str | None] = field(default_factory=dict)
    down: bool = False
    record_calls: int = 0

    def _check(self) -> None:
        if self.down:
            raise DatabaseDown("connection refused")

    async def record(self, items: Sequence[ToRecord]) -> list[Handled]:
        self._check()
        self.record_calls += 1
        results = []
        for item in items:
            key = (item.message.account, hashlib.sha256(item.message.raw).hexdigest())
            if key not in self.records:
                self.records[key] = StoredRecord(len(self.records) + 1, item)
            stored = self.records[key]
            results.append(Handled(stored.inbound_id, item.disposition))
        return results

    async def checkpoint(self, account: str, folder: str) -> Checkpoint | None:
        return None

    async def pending_dispositions(self, account: str, folder: str) -> list[PendingDisposition]:
        self._check()
        return [
            PendingDisposition(r.inbound_id, None, None, r.item.message.name, r.item.disposition)
            for r in self.records.values()
            if r.item.message.account == account
            and r.item.message.folder == folder
            and not r.disposed
            and r.item.disposition in ("move", "delete", "seen")
        ]

    async def mark_disposed(self, inbound_ids: Sequence[int]) -> None:
        self._check()
        wanted = set(inbound_ids)
        for r in self.records.values():
            if r.inbound_id in wanted:
                r.disposed = True

    async def folder_ok(self, account: str, folder: str) -> None:
        self._check()
        self.states[(account, folder)] = None

    async def folder_failed(self, account: str, folder: str, error: str) -> None:
        self._check()
        self.states[(account, folder)] = error

    async def close(self) -> None:
        pass

    def kinds(self) -> list[str]:
        return sorted(str(r.item.analysis.kind) for r in self.records.values())
