"""The daemon against real servers: Postfix writes real DSNs into Dovecot, the daemon records them
in PostgreSQL and moves them. The daemon runs in-process here (serve()); test_daemon_imap_process.py
runs it as a real `bouncer run` process."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import dsn
from servers import Dovecot, MailUser, Postfix, account_config, send_campaign_mail_async, simple_mail
from sqlalchemy import text

from bouncer.config import AccountConfig, Config, DatabaseConfig
from bouncer.daemon import serve
from bouncer.store import Store
from bouncer.store.migrate import upgrade

pytestmark = pytest.mark.integration


@pytest.fixture
async def pg_store(new_pg_url: Callable[[], str]) -> AsyncIterator[Store]:
    database = DatabaseConfig(url=await asyncio.to_thread(new_pg_url))  # it runs its own event loop
    await upgrade(database)
    store = await Store.open(database)
    yield store
    await store.close()


class RunningDaemon:
    def __init__(self, store: Store, *accounts: AccountConfig) -> None:
        config = Config(accounts=accounts)
        self.task = asyncio.create_task(serve(config, Path("bouncer.yaml"), store))

    async def stop(self) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        return await asyncio.wait_for(self.task, 10)


async def query(store: Store, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with store.engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(text(sql), params)]


async def eventually(condition: Callable[[], Any], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.1)


async def folder(dovecot: Dovecot, user: MailUser, name: str) -> dict[int, tuple[set[str], bytes]]:
    if name != "INBOX" and name not in await asyncio.to_thread(dovecot.folders, user):
        return {}
    return await asyncio.to_thread(dovecot.messages, user, name)


async def test_postfix_dsns_are_recorded_within_2_s_with_recipient_key_and_verdict_then_moved(
    dovecot: Dovecot, postfix: Postfix, new_mail_user: Callable[..., MailUser], pg_store: Store
) -> None:
    bounces = new_mail_user()
    full = new_mail_user(quota="1K")
    daemon = RunningDaemon(pg_store, account_config(dovecot, bounces, name="bounces"))
    await asyncio.sleep(1.0)  # connected and idling
    suffix = os.urandom(4).hex()
    expected = {  # tracker key -> (recipient, hard, status prefix)
        f"{suffix}-1111-4222-8333-000000000001": (postfix.address(f"nobody-{suffix}"), True, "5.1.1"),
        f"{suffix}-1111-4222-8333-000000000002": (postfix.address(f"gone-{suffix}"), True, "5.1.1"),
        f"{suffix}-1111-4222-8333-000000000003": (full.address, False, "5.2.2"),
    }
    accepted: dict[str, datetime] = {}
    for key, (recipient, _, _) in expected.items():
        await send_campaign_mail_async(postfix.smtp_port, recipient, key, bounces.address)
        accepted[key] = datetime.now(UTC)

    async def all_recorded() -> bool:
        return len(await query(pg_store, "select id from delivery_failures where account = 'bounces'")) == 3

    await eventually(all_recorded, 30, "three DSNs recorded")
    rows = await query(
        pg_store,
        "select f.recipient, f.tracker_key, f.hard, f.status, f.kind, m.received_at, m.processed_at"
        " from delivery_failures f join inbound_messages m on m.id = f.inbound_message_id"
        " where f.account = 'bounces'",
    )
    assert {r["tracker_key"] for r in rows} == set(expected)
    for row in rows:
        recipient, hard, status = expected[row["tracker_key"]]
        assert (row["recipient"], row["hard"], row["kind"]) == (recipient.lower(), hard, "bounce")
        assert row["status"].startswith(status)
        # received_at is Dovecot's INTERNALDATE (whole seconds, rounded down): this
        # overestimates the delay from delivery to commit, never underestimates it.
        assert (row["processed_at"] - row["received_at"]).total_seconds() < 2.0
        print("smtp acceptance to committed row:", (row["processed_at"] - accepted[row["tracker_key"]]).total_seconds())

    async def moved() -> bool:
        return not await folder(dovecot, bounces, "INBOX") and len(await folder(dovecot, bounces, "Processed")) == 3

    await eventually(moved, 10, "the DSNs moved to Processed")
    assert await daemon.stop() == 0


async def test_group_inbox_keeps_a_persons_mail_unseen_and_in_place_while_bounces_are_handled(
    dovecot: Dovecot, postfix: Postfix, new_mail_user: Callable[..., MailUser], pg_store: Store
) -> None:
    group = new_mail_user()
    person_uid = await asyncio.to_thread(dovecot.append, group, "INBOX", simple_mail("Una pregunta", "Hola!\n"))
    daemon = RunningDaemon(pg_store, account_config(dovecot, group, name="group", role="group"))
    key = f"{os.urandom(4).hex()}-aaaa-4bbb-8ccc-000000000001"
    await send_campaign_mail_async(postfix.smtp_port, postfix.address(f"nobody-{key[:8]}"), key, group.address)

    async def bounce_moved() -> bool:
        return len(await folder(dovecot, group, "Processed")) == 1

    await eventually(bounce_moved, 30, "the bounce moved")
    inbox = await folder(dovecot, group, "INBOX")
    assert list(inbox) == [person_uid]
    assert "\\Seen" not in inbox[person_uid][0]
    rows = await query(pg_store, "select kind, disposition from inbound_messages where account = 'group' order by kind")
    assert rows == [{"kind": "bounce", "disposition": "move"}, {"kind": "not_bounce", "disposition": "none"}]
    assert await daemon.stop() == 0


async def test_a_server_restart_mid_run_is_survived_and_caught_up(
    running_dovecot: Dovecot, new_mail_user: Callable[..., MailUser], pg_store: Store
) -> None:
    dovecot = running_dovecot
    user = new_mail_user()
    daemon = RunningDaemon(pg_store, account_config(dovecot, user, name="restart"))
    await asyncio.to_thread(
        dovecot.append, user, "INBOX", dsn("first@example.org", "dddddddd-0000-4000-8000-000000000000")
    )

    async def recorded(count: int) -> Callable[[], Any]:
        async def check() -> bool:
            return len(await query(pg_store, "select id from inbound_messages where account = 'restart'")) == count

        return check

    await eventually(await recorded(1), 15, "the first message")
    await asyncio.to_thread(dovecot.stop)
    try:
        for i in range(1, 6):  # delivered while the server is down
            raw = dsn(f"n{i}@example.org", f"dddddddd-0000-4000-8000-{i:012d}")
            await asyncio.to_thread(dovecot.drop_into_maildir, user, raw)
        await asyncio.sleep(2)
    finally:
        await asyncio.to_thread(dovecot.start)

    await eventually(await recorded(6), 60, "catching up after the restart")

    async def inbox_empty() -> bool:
        return not await folder(dovecot, user, "INBOX")

    await eventually(inbox_empty, 15, "everything moved")
    assert await daemon.stop() == 0


async def test_once_exits_with_a_sentence_naming_the_imap_folder_it_could_not_read(
    dovecot: Dovecot, new_mail_user: Callable[..., MailUser], pg_store: Store
) -> None:
    from servers import imap_config

    from bouncer.daemon import drain_all
    from bouncer.errors import BouncerError
    from bouncer.pipeline import PipelineCore

    good, locked = new_mail_user(), new_mail_user()
    await asyncio.to_thread(dovecot.append, good, "INBOX", dsn("x@example.org", "eeeeeeee-0000-4000-8000-000000000001"))
    wrong = imap_config(dovecot, locked, password="not-the-password")
    config = Config(
        accounts=(
            account_config(dovecot, good, name="good"),
            account_config(dovecot, locked, name="locked", imap=wrong),
        )
    )

    with pytest.raises(BouncerError) as caught:
        await drain_all(config, PipelineCore(pg_store, config))

    sentence = str(caught.value)
    assert sentence.startswith("could not read 1 of 2 folders: locked/INBOX: ")
    assert "not-the-password" not in sentence
    assert len(await query(pg_store, "select id from inbound_messages where account = 'good'")) == 1
