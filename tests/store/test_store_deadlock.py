"""PostgreSQL may pick a recording as a deadlock victim; the whole batch then runs again."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from servers import wait_for
from sqlalchemy import func, select
from store_helpers import fetched, item

from bouncer.config import DatabaseConfig
from bouncer.sources.base import Handled
from bouncer.store import Store
from bouncer.store.migrate import upgrade
from bouncer.store.schema import inbound_messages


@pytest.fixture
def pg_database(new_pg_url: Callable[[], str]) -> DatabaseConfig:
    return DatabaseConfig(url=new_pg_url())


def _plain_dsn(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


# Some backend waits for a lock that the connection with this pid holds (others' tests may share the server).
WAITING_FOR = "SELECT count(*) FROM pg_locks WHERE NOT granted AND $1 = ANY(pg_blocking_pids(pid))"


async def test_a_deadlock_victim_is_recorded_on_the_second_try(pg_database: DatabaseConfig) -> None:
    await upgrade(pg_database)
    store = await Store.open(pg_database)
    other = await asyncpg.connect(_plain_dsn(pg_database.url), timeout=10)
    raw = b"Subject: contested\r\n\r\nx\r\n"
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        await store.folder_ok("bounces", "INBOX")
        # Another writer holds the folder's checkpoint row and will want the same message;
        # it waits longer before checking for deadlocks, so the recording is the victim.
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SET LOCAL deadlock_timeout = '20s'")
        await other.execute("UPDATE mailbox_state SET messages_seen = messages_seen WHERE account = 'bounces'")

        recording = asyncio.create_task(store.record([item(fetched(raw, uid=1))]))
        # Go on only once the recording has inserted the message and waits for the checkpoint
        # row (a fixed sleep may end sooner on a loaded machine: then no deadlock is tested).
        await wait_for(lambda: other.fetchval(WAITING_FOR, other.get_server_pid()), timeout=15)
        assert not recording.done()
        other_id = await asyncio.wait_for(
            other.fetchval(
                "INSERT INTO inbound_messages (tenant, account, folder, source_name, sha256, size, truncated, kind,"
                " processed_at, parser_version, disposition) VALUES ('acme', 'bounces', 'INBOX', '1', $1, 1,"
                " false, 'bounce', now(), 'other', 'seen') RETURNING id",
                sha256,
            ),
            timeout=15,
        )
        await transaction.commit()
        handled = await asyncio.wait_for(recording, timeout=15)
    finally:
        await other.close()
    try:
        assert handled == [Handled(other_id, "seen")]  # the second try found the other writer's record
        async with store.engine.connect() as connection:
            assert (await connection.execute(select(func.count()).select_from(inbound_messages))).scalar_one() == 1
    finally:
        await store.close()
