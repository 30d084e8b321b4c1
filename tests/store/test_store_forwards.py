"""Forwarding people's mail exactly once: the records behind claim -> send -> finish.

On both databases: the 0002 migration up and down, the full lifecycle, a failed attempt
released and retried, a crash between claim and finish left "in doubt" (never resent),
and two stores (two engines, as two processes would have) racing for the same claims.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from store_helpers import analysis, fetched, inspect_database, item

from bouncer.analysis.taxonomy import Kind
from bouncer.cli import main
from bouncer.config import DatabaseConfig
from bouncer.errors import BouncerError
from bouncer.sources.base import Handled
from bouncer.store import Store, ToRecord, migrate
from bouncer.store.engine import make_engine
from bouncer.store.store import utcnow

FORWARD_COLUMNS = {"forward_to", "forward_started_at", "forwarded_at", "forward_error"}
PERSON = b"From: Ann <ann@example.org>\r\nSubject: please unsubscribe me\r\n\r\nThanks.\r\n"


def person_mail(raw: bytes | None = None, *, forward_to: str = "office@crm.example") -> ToRecord:
    """A person's answer to a campaign, to be forwarded; the account disposes by moving."""
    answer = replace(analysis(Kind.NOT_BOUNCE), from_address="ann@example.org", subject="please unsubscribe me")
    base = item(fetched(raw), answer, disposition="move")
    return ToRecord(base.message, base.analysis, base.disposition, base.parser_version, forward_to=forward_to)


def _inbound_columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("inbound_messages")}


async def inbound_columns(database: DatabaseConfig) -> set[str]:
    return await inspect_database(database, _inbound_columns)


async def test_migration_0002_up_and_down_keeps_the_records(database: DatabaseConfig) -> None:
    await migrate.upgrade(database)
    await migrate.downgrade(database, "0001")
    assert await migrate.read_revision(database) == "0001"
    assert not FORWARD_COLUMNS & await inbound_columns(database)

    # A record written by the 0001 code, then the upgrade: it reads as "nothing to forward".
    engine = make_engine(database)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO inbound_messages (tenant, account, folder, uidvalidity, uid, source_name, sha256,"
                    " size, truncated, kind, processed_at, parser_version, disposition)"
                    " VALUES ('acme', 'bounces', 'INBOX', 7, 1, '1', :sha, 10, :false, 'bounce', :now, 'old', 'move')"
                ),
                {"sha": "a" * 64, "false": False, "now": utcnow()},
            )
    finally:
        await engine.dispose()
    with pytest.raises(BouncerError, match=r"at 0001 but this bouncer needs 0002: run `bouncer db upgrade"):
        await Store.open(database)

    assert await migrate.upgrade(database) == "upgraded the database schema from 0001 to 0002"
    assert await inbound_columns(database) >= FORWARD_COLUMNS
    store = await Store.open(database)
    try:
        [pending] = await store.pending_dispositions("bounces", "INBOX")
        assert (pending.uid, pending.disposition) == (1, "move")
        assert await store.pending_forwards("bounces", "INBOX") == []
        assert await store.stuck_forwards() == []
    finally:
        await store.close()

    await migrate.downgrade(database, "0001")
    assert not FORWARD_COLUMNS & await inbound_columns(database)
    engine = make_engine(database)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM inbound_messages"))).scalar_one() == 1
    finally:
        await engine.dispose()
    await migrate.upgrade(database)  # and up again: the downgrade left nothing in the way
    assert await inbound_columns(database) >= FORWARD_COLUMNS


async def test_lifecycle_record_claim_send_finish_dispose(store: Store) -> None:
    mail = person_mail(PERSON)
    bounce = item(fetched(), disposition="move")
    forwarded, bounced = await store.record([mail, bounce])
    # Held back: the watcher must leave the person's mail in place until it is forwarded.
    assert forwarded.disposition == "none"
    assert bounced.disposition == "move"
    assert [p.inbound_id for p in await store.pending_dispositions("bounces", "INBOX")] == [bounced.inbound_id]
    [again] = await store.record([mail])  # fetched again after a crash: still held back
    assert again == forwarded

    [pending] = await store.pending_forwards("bounces", "INBOX")
    assert pending.inbound_id == forwarded.inbound_id
    assert (pending.name, pending.uid, pending.uidvalidity) == (mail.message.name, mail.message.uid, 7)
    assert (pending.forward_to, pending.raw, pending.truncated, pending.last_error) == (
        "office@crm.example",
        PERSON,
        False,
        None,
    )
    assert await store.pending_forwards("bounces", "Junk") == []

    assert await store.claim_forward(pending.inbound_id) is True
    assert await store.claim_forward(pending.inbound_id) is False  # never twice
    assert await store.pending_forwards("bounces", "INBOX") == []
    assert [p.inbound_id for p in await store.pending_dispositions("bounces", "INBOX")] == [bounced.inbound_id]

    assert await store.finish_forward(pending.inbound_id) is True
    assert await store.finish_forward(pending.inbound_id) is False  # already done: nothing changes
    assert await store.claim_forward(pending.inbound_id) is False
    assert await store.stuck_forwards() == []
    dispositions = {p.inbound_id: p.disposition for p in await store.pending_dispositions("bounces", "INBOX")}
    assert dispositions == {bounced.inbound_id: "move", forwarded.inbound_id: "move"}  # disposed like a bounce
    [again] = await store.record([mail])
    assert again.disposition == "move"

    await store.mark_disposed([forwarded.inbound_id, bounced.inbound_id])
    assert await store.pending_dispositions("bounces", "INBOX") == []
    [again] = await store.record([mail])
    assert again.disposition == "none"
    assert await store.pending_forwards("bounces", "INBOX") == []


async def test_acknowledging_a_held_back_forward_does_not_dispose_of_it(store: Store) -> None:
    """The watcher acknowledges every record of a batch, the held-back ones ("none") too:
    that must not mark a record disposed whose real disposition is still to come."""
    [forwarded] = await store.record([person_mail(PERSON)])
    await store.mark_disposed([forwarded.inbound_id])
    assert await store.claim_forward(forwarded.inbound_id)
    assert await store.finish_forward(forwarded.inbound_id)
    [pending] = await store.pending_dispositions("bounces", "INBOX")
    assert (pending.inbound_id, pending.disposition) == (forwarded.inbound_id, "move")


async def test_a_refused_forward_is_released_and_pending_again(store: Store) -> None:
    [handled] = await store.record([person_mail()])
    assert await store.release_forward(handled.inbound_id, "not claimed") is False  # nothing to release

    assert await store.claim_forward(handled.inbound_id)
    assert await store.release_forward(handled.inbound_id, "535 5.7.8 Username and Password not accepted\x00")
    [pending] = await store.pending_forwards("bounces", "INBOX")
    assert pending.last_error == "535 5.7.8 Username and Password not accepted"
    assert await store.stuck_forwards() == []
    assert await store.pending_dispositions("bounces", "INBOX") == []  # still held back

    assert await store.claim_forward(handled.inbound_id)  # the retry
    assert await store.finish_forward(handled.inbound_id)
    assert await store.release_forward(handled.inbound_id, "late") is False  # done stays done
    [disposition] = await store.pending_dispositions("bounces", "INBOX")
    assert disposition.inbound_id == handled.inbound_id


async def test_a_forward_claimed_but_never_finished_is_in_doubt_not_pending(store: Store) -> None:
    stuck_mail = person_mail()
    first, second, plain = await store.record([stuck_mail, person_mail(), item(fetched(), disposition="move")])
    assert await store.claim_forward(plain.inbound_id) is False  # nothing to forward there
    assert await store.finish_forward(first.inbound_id) is False  # never claimed
    assert await store.claim_forward(first.inbound_id)
    # ... and the process dies here, before sending or before finish_forward.

    assert [p.inbound_id for p in await store.pending_forwards("bounces", "INBOX")] == [second.inbound_id]
    assert [p.inbound_id for p in await store.pending_dispositions("bounces", "INBOX")] == [plain.inbound_id]
    [stuck] = await store.stuck_forwards("bounces", "INBOX")
    assert (stuck.inbound_id, stuck.tenant, stuck.forward_to) == (first.inbound_id, "acme", "office@crm.example")
    assert stuck.started_at <= utcnow()
    assert await store.stuck_forwards("bounces", "Junk") == []
    assert await store.stuck_forwards("other") == []
    # A claim this recent may be a live sender's: started_before leaves it out.
    assert await store.stuck_forwards(started_before=stuck.started_at - timedelta(seconds=1)) == []
    assert len(await store.stuck_forwards(started_before=utcnow() + timedelta(seconds=1))) == 1
    [again] = await store.record([stuck_mail])  # fetched again after the restart: stays in place
    assert again == Handled(first.inbound_id, "none")


async def test_two_stores_racing_for_the_same_claims(migrated: DatabaseConfig) -> None:
    one, two = await Store.open(migrated), await Store.open(migrated)
    try:
        handled = await one.record([person_mail() for _ in range(20)])
        ids = [h.inbound_id for h in handled]
        results = await asyncio.gather(*(store.claim_forward(i) for i in ids for store in (one, two)))
        per_id = [results[2 * n : 2 * n + 2] for n in range(len(ids))]
        assert all(sorted(pair) == [False, True] for pair in per_id), per_id
        assert await one.pending_forwards("bounces", "INBOX") == []
        assert {s.inbound_id for s in await two.stuck_forwards()} == set(ids)
    finally:
        await one.close()
        await two.close()


async def test_bouncer_report_shows_the_forwards_in_doubt(
    store: Store, migrated: DatabaseConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stuck, sent, waiting = await store.record([person_mail(PERSON), person_mail(), person_mail()])
    for handled in (stuck, sent):
        assert await store.claim_forward(handled.inbound_id)
    assert await store.finish_forward(sent.inbound_id)
    config = tmp_path / "bouncer.yaml"
    config.write_text(f"database:\n  url: {migrated.url}\n", encoding="utf-8")

    outputs = {}
    for fmt in ("json", "csv", "table"):
        # `bouncer report` runs its own event loop: a thread keeps it off this test's loop.
        assert await asyncio.to_thread(main, ["report", "-c", str(config), "--format", fmt]) == 0
        outputs[fmt] = capsys.readouterr().out

    [acme] = json.loads(outputs["json"])["tenants"]
    [doubt] = acme["forwards_in_doubt"]
    assert (doubt["inbound_id"], doubt["forward_to"], doubt["subject"]) == (
        stuck.inbound_id,
        "office@crm.example",
        "please unsubscribe me",
    )
    rows = [row for row in csv.DictReader(io.StringIO(outputs["csv"])) if row["section"] == "forward_in_doubt"]
    assert [(row["detail"], row["count"]) for row in rows] == [(f"#{stuck.inbound_id} to office@crm.example", "1")]
    table = outputs["table"]
    assert "Forwards in doubt: 1 (claimed but never confirmed" in table
    assert any(line.split()[:2] == [str(stuck.inbound_id), "bounces"] for line in table.splitlines())
    assert waiting.inbound_id not in {d["inbound_id"] for d in acme["forwards_in_doubt"]}
