"""Recording: exactly once, in one transaction per batch, with the checkpoint alongside."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from store_helpers import analysis, fetched, item, recipient

from bouncer.analysis.result import Recipient
from bouncer.analysis.taxonomy import Kind, Reason
from bouncer.config import DatabaseConfig
from bouncer.sources.base import Checkpoint, Handled
from bouncer.store import Store, ToRecord
from bouncer.store import store as store_module
from bouncer.store.schema import delivery_failures, inbound_messages, mailbox_state


async def count(store: Store, table: object) -> int:
    async with store.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(table))).scalar_one()  # type: ignore[arg-type]


async def failures(store: Store) -> list[dict[str, object]]:
    async with store.engine.connect() as connection:
        result = await connection.execute(select(delivery_failures).order_by(delivery_failures.c.id))
        return [dict(row._mapping) for row in result]


async def test_a_bounce_is_recorded_with_one_failure_per_recipient(store: Store) -> None:
    raw = b"Subject: Undelivered\r\n\r\nsorry\r\n"
    result = analysis(
        Kind.BOUNCE,
        recipient("Gone@Example.ORG"),
        recipient("full@example.org", Reason.MAILBOXFULL, status="4.2.2"),
        tracker_key="0f1e2d3c-aaaa-bbbb-cccc-0123456789ab",
    )
    [handled] = await store.record([item(fetched(raw, uid=10), result, "move")])

    assert handled.disposition == "move"
    async with store.engine.connect() as connection:
        row = (await connection.execute(select(inbound_messages))).one()
    assert row.id == handled.inbound_id
    assert row.sha256 == hashlib.sha256(raw).hexdigest()
    assert (row.tenant, row.account, row.folder, row.uid, row.uidvalidity) == ("acme", "bounces", "INBOX", 10, 7)
    assert (row.kind, row.size, row.raw, row.disposition, row.disposed_at) == ("bounce", len(raw), raw, "move", None)
    assert row.tracker_key == "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab"
    assert row.processed_at.tzinfo is not None and row.processed_at.utcoffset() == timedelta(0)

    rows = await failures(store)
    assert [(r["recipient"], r["hard"], r["crm_activity"], r["reason"]) for r in rows] == [
        ("gone@example.org", True, "invalid email", "userunknown"),
        ("full@example.org", False, "send error", "mailboxfull"),
    ]
    assert all(r["inbound_message_id"] == handled.inbound_id for r in rows)
    assert all(r["tracker_key"] == "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab" for r in rows)


async def test_the_same_message_twice_adds_nothing_and_reports_its_state(store: Store) -> None:
    first = item(fetched(b"Subject: same bytes\r\n\r\nx\r\n", uid=1))
    again_elsewhere = item(fetched(b"Subject: same bytes\r\n\r\nx\r\n", folder="Other", uid=99), disposition="delete")

    [one] = await store.record([first])
    [two] = await store.record([again_elsewhere])
    assert two == Handled(one.inbound_id, "move")  # the stored disposition, not the new one
    assert await count(store, inbound_messages) == 1
    assert await count(store, delivery_failures) == 1

    await store.mark_disposed([one.inbound_id])
    [three] = await store.record([first])
    assert three == Handled(one.inbound_id, "none")  # already carried out: leave this copy alone
    assert await count(store, delivery_failures) == 1


async def test_duplicates_inside_one_batch_and_other_accounts(store: Store) -> None:
    raw = b"Subject: twice in a batch\r\n\r\nx\r\n"
    batch = [
        item(fetched(raw, uid=1)),
        item(fetched(uid=2)),
        item(fetched(raw, uid=3), disposition="seen"),
        item(fetched(raw, account="other", uid=4), disposition="keep"),
    ]
    handled = await store.record(batch)

    assert handled[0].inbound_id == handled[2].inbound_id
    assert handled[2].disposition == "move"  # the recorded row's disposition
    assert len({h.inbound_id for h in handled}) == 3
    assert handled[3].disposition == "keep"  # the same bytes in another account are another record
    assert await count(store, inbound_messages) == 3
    assert await count(store, delivery_failures) == 3


async def test_two_processes_recording_the_same_batch_at_once_make_one_record(migrated: DatabaseConfig) -> None:
    batch = [item(fetched(uid=uid)) for uid in range(1, 41)]
    first, second = await Store.open(migrated), await Store.open(migrated)
    try:
        results = await asyncio.gather(first.record(batch), second.record(list(reversed(batch))))
        assert [h.inbound_id for h in results[0]] == [h.inbound_id for h in reversed(results[1])]
        assert await count(first, inbound_messages) == 40
        assert await count(first, delivery_failures) == 40
        async with first.engine.connect() as connection:
            seen = (await connection.execute(select(mailbox_state.c.messages_seen))).scalar_one()
        assert seen == 40  # each message counted once, by whichever process recorded it
    finally:
        await first.close()
        await second.close()


async def test_a_failing_batch_leaves_nothing_behind(store: Store) -> None:
    await store.record([item(fetched(uid=5))])
    bad = item(fetched(uid=9), disposition="explode")  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        await store.record([item(fetched(uid=7)), item(fetched(uid=8)), bad])

    assert await count(store, inbound_messages) == 1
    assert await count(store, delivery_failures) == 1
    assert await store.checkpoint("bounces", "INBOX") == Checkpoint(uidvalidity=7, last_uid=5)


async def test_raw_bytes_are_kept_only_when_configured(migrated: DatabaseConfig) -> None:
    store = await Store.open(migrated.model_copy(update={"store_raw": False}))
    try:
        [handled] = await store.record([item()])
        async with store.engine.connect() as connection:
            raw = (await connection.execute(select(inbound_messages.c.raw))).scalar_one()
        assert handled.disposition == "move"
        assert raw is None
    finally:
        await store.close()


async def test_checkpoint_follows_the_highest_recorded_uid(store: Store) -> None:
    assert await store.checkpoint("bounces", "INBOX") is None
    await store.record([item(fetched(uid=5)), item(fetched(uid=9)), item(fetched(uid=7))])
    assert await store.checkpoint("bounces", "INBOX") == Checkpoint(uidvalidity=7, last_uid=9)

    await store.record([item(fetched(uid=3))])  # an older UID never moves it back
    assert await store.checkpoint("bounces", "INBOX") == Checkpoint(uidvalidity=7, last_uid=9)

    await store.reset_checkpoint("bounces", "INBOX", 8)
    assert await store.checkpoint("bounces", "INBOX") == Checkpoint(uidvalidity=8, last_uid=0)
    await store.record([item(fetched(uid=2, uidvalidity=8))])
    assert await store.checkpoint("bounces", "INBOX") == Checkpoint(uidvalidity=8, last_uid=2)

    [state] = await store.mailbox_states()
    assert state.messages_seen == 5
    assert state.tenant == "acme"
    assert state.last_ok_at is not None


async def test_maildir_messages_have_no_uid_checkpoint(store: Store) -> None:
    await store.record([item(fetched(folder="/srv/mail/bounces", uidvalidity=None))])
    assert await store.checkpoint("bounces", "/srv/mail/bounces") is None
    [state] = await store.mailbox_states()
    assert (state.messages_seen, state.uidvalidity, state.last_uid) == (1, None, None)


async def test_pending_dispositions_until_marked_disposed(store: Store) -> None:
    handled = await store.record(
        [
            item(fetched(uid=1), disposition="move"),
            item(fetched(uid=2), disposition="keep"),
            item(fetched(uid=3), disposition="delete"),
            item(fetched(uid=4), disposition="none"),
            item(fetched(uid=5), disposition="seen"),
            item(fetched(uid=6, folder="Other"), disposition="move"),
        ]
    )
    pending = await store.pending_dispositions("bounces", "INBOX")
    assert [(p.uid, p.disposition, p.name, p.uidvalidity) for p in pending] == [
        (1, "move", "1", 7),
        (3, "delete", "3", 7),
        (5, "seen", "5", 7),
    ]
    assert [p.inbound_id for p in pending] == [handled[0].inbound_id, handled[2].inbound_id, handled[4].inbound_id]

    await store.mark_disposed([handled[0].inbound_id, handled[4].inbound_id])
    assert [p.uid for p in await store.pending_dispositions("bounces", "INBOX")] == [3]


async def test_folder_health_is_remembered(store: Store) -> None:
    await store.folder_ok("bounces", "INBOX")
    await store.folder_failed("bounces", "INBOX", "connection refused\x00 by peer")
    [state] = await store.mailbox_states()
    assert state.last_ok_at is not None and state.last_error_at is not None
    assert state.last_error_at >= state.last_ok_at
    assert state.last_error == "connection refused by peer"
    assert await store.checkpoint("bounces", "INBOX") is None  # health alone is no checkpoint


async def test_which_rows_each_kind_writes(store: Store) -> None:
    arrival = datetime(2026, 10, 3, 8, 30, tzinfo=timezone(timedelta(hours=2)))
    dated = datetime(2026, 10, 4, 9, 0, tzinfo=UTC)
    naive = datetime(2026, 10, 5, 10, 0)  # a Date header of -0000: taken as UTC
    received = datetime(2026, 10, 6, 11, 0, tzinfo=UTC)
    await store.record(
        [
            item(fetched(received_at=received), analysis(Kind.BOUNCE, recipient("a@x.org", arrival_date=arrival))),
            item(fetched(received_at=received), analysis(Kind.DELAY, recipient("b@x.org", status="4.4.7"), date=dated)),
            item(
                fetched(received_at=received),
                analysis(Kind.COMPLAINT, Recipient("c@x.org", action="", reason=Reason.UNDEFINED), date=naive),
            ),
            item(fetched(received_at=received), analysis(Kind.BOUNCE, recipient("d@x.org", Reason.BLOCKED))),
            item(fetched(received_at=received), analysis(Kind.AUTOREPLY, recipient("e@x.org"))),
            item(fetched(received_at=received), analysis(Kind.NOT_BOUNCE)),
        ]
    )
    rows = {r["recipient"]: r for r in await failures(store)}
    assert sorted(rows) == ["a@x.org", "b@x.org", "c@x.org", "d@x.org"]  # autoreplies fail nothing
    assert rows["a@x.org"]["occurred_at"] == datetime(2026, 10, 3, 6, 30, tzinfo=UTC)
    assert rows["b@x.org"]["occurred_at"] == dated
    assert rows["c@x.org"]["occurred_at"] == datetime(2026, 10, 5, 10, 0, tzinfo=UTC)
    assert rows["d@x.org"]["occurred_at"] == received
    assert (rows["b@x.org"]["kind"], rows["b@x.org"]["crm_activity"], rows["b@x.org"]["hard"]) == ("delay", None, False)
    assert (rows["c@x.org"]["kind"], rows["c@x.org"]["crm_activity"], rows["c@x.org"]["reason"]) == (
        "complaint",
        None,
        "feedback",
    )
    assert (rows["d@x.org"]["crm_activity"], rows["d@x.org"]["hard"]) == ("send error", False)
    assert await count(store, inbound_messages) == 6


async def test_text_any_database_accepts(store: Store) -> None:
    result = analysis(Kind.BOUNCE, recipient("a@x.org", status="5.1.1.1.1.1.1.1.1.1.1.1"))
    result = type(result)(**{**{f: getattr(result, f) for f in result.__slots__}, "subject": "bad\x00 \udcff subject"})
    await store.record([item(result=result)])
    async with store.engine.connect() as connection:
        subject = (await connection.execute(select(inbound_messages.c.subject))).scalar_one()
        status = (await connection.execute(select(delivery_failures.c.status))).scalar_one()
    assert subject == "bad ? subject"
    assert len(status) <= 16


async def test_large_messages_are_split_across_statements(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MESSAGE_CHUNK_BYTES", 3000)
    batch = [item(fetched(b"Subject: big %d\r\n\r\n" % n + b"x" * 1200, uid=n)) for n in range(1, 8)]
    assert [len(chunk) for chunk in store_module._message_chunks([_row(r) for r in batch])] == [2, 2, 2, 1]
    handled = await store.record(batch)
    assert len({h.inbound_id for h in handled}) == 7
    assert await count(store, inbound_messages) == 7
    assert await store.checkpoint("bounces", "INBOX") == Checkpoint(uidvalidity=7, last_uid=7)


def _row(record: ToRecord) -> dict[str, object]:
    return store_module.message_row(record, store_raw=True, processed_at=datetime.now(UTC))
