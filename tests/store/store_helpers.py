"""Building blocks for the store tests: fetched messages and analyses made by hand."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.engine import Connection

from bouncer.analysis.result import Analysis, Recipient
from bouncer.analysis.taxonomy import Kind, Reason, is_hard
from bouncer.config import DatabaseConfig
from bouncer.sources.base import Disposition, FetchedMessage
from bouncer.store import ToRecord
from bouncer.store.engine import make_engine

T = TypeVar("T")

_serial = itertools.count(1)


def fetched(
    raw: bytes | None = None,
    *,
    tenant: str = "acme",
    account: str = "bounces",
    folder: str = "INBOX",
    uid: int | None = None,
    uidvalidity: int | None = 7,
    received_at: datetime | None = None,
) -> FetchedMessage:
    if raw is None:
        raw = f"Subject: message {next(_serial)}\r\n\r\nbody\r\n".encode()
    if uid is None:
        uid = next(_serial)
    return FetchedMessage(
        tenant=tenant,
        account=account,
        folder=folder,
        uid=uid if uidvalidity is not None else None,
        uidvalidity=uidvalidity,
        name=str(uid),
        raw=raw,
        size=len(raw),
        received_at=received_at or datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    )


def recipient(
    address: str, reason: Reason = Reason.USERUNKNOWN, *, status: str = "5.1.1", **extra: object
) -> Recipient:
    return Recipient(
        address=address,
        status=status,
        reason=reason,
        hard=is_hard(reason, status),
        diagnostic=f"550 {reason}",
        **extra,  # type: ignore[arg-type]
    )


def analysis(
    kind: Kind = Kind.BOUNCE, *recipients: Recipient, tracker_key: str | None = None, date: datetime | None = None
) -> Analysis:
    return Analysis(
        kind=kind,
        recipients=tuple(recipients),
        tracker_key=tracker_key,
        original_message_id="<orig@crm.example>" if tracker_key else None,
        message_id=f"<report-{next(_serial)}@mta.example>",
        from_address="MAILER-DAEMON@mta.example",
        subject="Undelivered Mail Returned to Sender",
        date=date,
        mail_system="test",
    )


def item(
    message: FetchedMessage | None = None,
    result: Analysis | None = None,
    disposition: Disposition = "move",
) -> ToRecord:
    return ToRecord(
        message=message or fetched(),
        analysis=result or analysis(Kind.BOUNCE, recipient("Someone@Example.org")),
        disposition=disposition,
        parser_version="test-1",
    )


async def inspect_database(database: DatabaseConfig, look: Callable[[Connection], T]) -> T:
    """Run ``look`` (e.g. something with ``sqlalchemy.inspect``) on a connection of its own."""
    engine = make_engine(database)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(look)
    finally:
        await engine.dispose()
