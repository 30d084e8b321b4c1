"""Recording throughput: 10,000 analysed messages with 12,000 failures into PostgreSQL.

    python bench/store.py [--url postgresql+asyncpg://...] [--batch 250] [--messages 10000]

Without --url it creates a throw-away database through $BOUNCER_TEST_PG_ADMIN (default
postgresql://postgres@127.0.0.1:5432/postgres) and drops it afterwards. One process,
one connection at a time, batches of --batch messages per transaction, raw bytes stored
(the default ``store_raw: true``). The goal is at least 2,000 messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bouncer.analysis import PARSER_VERSION
from bouncer.analysis.result import Analysis, Recipient
from bouncer.analysis.taxonomy import Kind, Reason, is_hard
from bouncer.config import DatabaseConfig
from bouncer.sources.base import FetchedMessage
from bouncer.store import Store, ToRecord
from bouncer.store.migrate import upgrade

GOAL = 2000.0  # messages per second
REASONS = [(Reason.USERUNKNOWN, "5.1.1"), (Reason.MAILBOXFULL, "4.2.2"), (Reason.BLOCKED, "5.7.1")]


def build(count: int) -> list[ToRecord]:
    """``count`` bounces; every fifth names two recipients (10,000 -> 12,000 failures)."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for n in range(count):
        received = start + timedelta(seconds=n)
        recipients = []
        for r in range(2 if n % 5 == 0 else 1):
            reason, status = REASONS[(n + r) % len(REASONS)]
            recipients.append(
                Recipient(
                    address=f"person{n}.{r}@example{n % 97}.org",
                    status=status,
                    reply_code=status[0] + "50",
                    reason=reason,
                    hard=is_hard(reason, status),
                    diagnostic=f"{status[0]}50 {status} {reason} for person{n}.{r}",
                    remote_mta=f"mx{n % 7}.example.org",
                )
            )
        tracker = f"{n:08x}-0000-4000-8000-{secrets.token_hex(6)}"
        raw = (
            f"From: MAILER-DAEMON@mta.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: <dsn-{n}@mta.example>\r\n\r\n"
            f"This is the mail system at host mta.example.\r\n{'x' * 1500}\r\n"
            f"X-CRM-Tracker: {tracker}\r\n"
        ).encode()
        items.append(
            ToRecord(
                message=FetchedMessage(
                    tenant=f"tenant{n % 3}",
                    account=f"bounces{n % 3}",
                    folder="INBOX",
                    uid=n + 1,
                    uidvalidity=1,
                    name=str(n + 1),
                    raw=raw,
                    size=len(raw),
                    received_at=received,
                ),
                analysis=Analysis(
                    kind=Kind.BOUNCE,
                    recipients=tuple(recipients),
                    tracker_key=tracker,
                    original_message_id=f"<{tracker}@crm.example>",
                    message_id=f"<dsn-{n}@mta.example>",
                    from_address="MAILER-DAEMON@mta.example",
                    subject="Undelivered Mail Returned to Sender",
                    date=received,
                    mail_system="postfix",
                ),
                disposition="move",
                parser_version=PARSER_VERSION,
            )
        )
    return items


async def run(url: str, messages: int, batch: int) -> float:
    database = DatabaseConfig(url=url)
    await upgrade(database)
    items = build(messages)
    failures = sum(len(i.analysis.recipients) for i in items)
    store = await Store.open(database)
    try:
        started = time.perf_counter()
        for start in range(0, len(items), batch):
            await store.record(items[start : start + batch])
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    rate = messages / elapsed
    print(f"recorded {messages} messages with {failures} failures in {elapsed:.2f} s, batches of {batch}")
    print(f"{rate:,.0f} messages/s, {failures / elapsed:,.0f} failures/s (goal: {GOAL:,.0f} messages/s)")
    # The database runs on the same machine: its load says how much the figure is worth.
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return rate


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an existing (empty) database; default: a throw-away one")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=250)
    args = parser.parse_args()
    if args.url:
        rate = asyncio.run(run(args.url, args.messages, args.batch))
        return 0 if rate >= GOAL else 1
    admin = os.environ.get("BOUNCER_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"bouncer_bench_{secrets.token_hex(4)}"
    parts = urlsplit(admin)
    url = urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        rate = asyncio.run(run(url, args.messages, args.batch))
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
