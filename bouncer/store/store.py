"""The repository the daemon records through: exactly once, in batches, on either database.

Every write is one transaction, and every conflict is settled by a unique constraint
(``INSERT ... ON CONFLICT DO NOTHING``), never by reading first: two processes recording
the same message at the same moment end up with one record, and a crash before the
commit leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Table, Update, and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bouncer.analysis.result import Analysis, Recipient
from bouncer.analysis.taxonomy import Kind, Reason
from bouncer.config import DatabaseConfig
from bouncer.errors import BouncerError
from bouncer.sources.base import Checkpoint, Disposition, FetchedMessage, Handled, PendingDisposition
from bouncer.store import migrate
from bouncer.store.engine import make_engine
from bouncer.store.schema import delivery_failures, inbound_messages, mailbox_state

# Rows per statement: well under the bind-parameter limits of both databases (32767).
MESSAGE_CHUNK = 500
MESSAGE_CHUNK_BYTES = 64 * 1024 * 1024
FAILURE_CHUNK = 1000
LOOKUP_CHUNK = 500

FAILURE_KINDS = frozenset({Kind.BOUNCE, Kind.DELAY, Kind.COMPLAINT})
PENDING_DISPOSITIONS = ("move", "delete", "seen")
MAX_ERROR_TEXT = 2000
DEADLOCK_ATTEMPTS = 3
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ToRecord:
    """One fetched message, what the engine made of it, and what its source must do with it."""

    message: FetchedMessage
    analysis: Analysis
    disposition: Disposition
    parser_version: str
    # A person's mail to forward (``forward_other_to``): recorded with the forward pending
    # and its disposition held back (``record`` answers ``none``) until ``finish_forward``.
    forward_to: str | None = None


@dataclass(frozen=True, slots=True)
class PendingForward:
    """A recorded message whose forward has not been claimed yet (a sender may claim it)."""

    inbound_id: int
    account: str
    folder: str
    name: str  # source_name: the UID as text, or the Maildir file name
    uid: int | None
    uidvalidity: int | None
    forward_to: str
    truncated: bool  # only the header was fetched: say so in the cover note
    raw: bytes | None  # None unless ``database.store_raw``: fetch it again from the source
    last_error: str | None  # why the previous attempt failed, if one did


@dataclass(frozen=True, slots=True)
class ForwardInDoubt:
    """A forward claimed but never finished: it may or may not have been sent. Never resent
    automatically; the message stays in its folder until an operator decides."""

    inbound_id: int
    tenant: str
    account: str
    folder: str
    name: str
    uid: int | None
    uidvalidity: int | None
    forward_to: str
    from_address: str | None
    subject: str | None
    started_at: datetime


@dataclass(frozen=True, slots=True)
class MailboxState:
    """One watched (account, folder): its checkpoint and its health."""

    account: str
    folder: str
    tenant: str | None
    uidvalidity: int | None
    last_uid: int | None
    messages_seen: int
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Existing:
    """What ``record`` needs to know of a message recorded before."""

    inbound_id: int
    disposition: Disposition
    disposed_at: datetime | None
    forward_to: str | None
    forwarded_at: datetime | None


def _forward_done_or_none() -> ColumnElement[bool]:
    """A record whose disposition may go ahead: nothing to forward, or forwarded."""
    return or_(inbound_messages.c.forward_to.is_(None), inbound_messages.c.forwarded_at.is_not(None))


def _claimed_and_unfinished(inbound_id: int) -> ColumnElement[bool]:
    """This record's forward is claimed and not finished: the only state finish/release may change."""
    columns = inbound_messages.c
    return and_(columns.id == inbound_id, columns.forward_started_at.is_not(None), columns.forwarded_at.is_(None))


def utcnow() -> datetime:
    return datetime.now(UTC)


def clean_text(value: str | None, limit: int | None = None) -> str | None:
    """Text any database accepts: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():  # only non-ASCII text can hold a lone surrogate
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:limit] if limit is not None else value


def _text(value: str, limit: int | None = None) -> str:
    return cast(str, clean_text(value, limit))


def _is_deadlock(exc: DBAPIError) -> bool:
    original = exc.orig
    return getattr(original, "sqlstate", None) in RETRYABLE_SQLSTATES or getattr(original, "pgcode", None) in (
        RETRYABLE_SQLSTATES
    )


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _message_chunks(rows: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Rows per INSERT: at most MESSAGE_CHUNK, and at most MESSAGE_CHUNK_BYTES of raw bytes
    (PostgreSQL refuses a protocol message over 1 GB; a batch of 25 MB messages would get there)."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        raw_size = len(row["raw"] or b"")
        if chunk and (len(chunk) >= MESSAGE_CHUNK or size + raw_size > MESSAGE_CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += raw_size
    if chunk:
        yield chunk


def failure_rows(item: ToRecord, inbound_id: int, recorded_at: datetime) -> list[dict[str, Any]]:
    """The ``delivery_failures`` rows of one message: one per recipient, for bounces, delays, complaints.

    ``crm_activity`` is ``invalid email`` for a hard bounce and ``send error`` for any other
    bounce; delays (not a failure yet) and complaints (the mail was delivered) get none.
    A complaint's reason is always ``feedback``. Each recipient counts once per message.
    """
    analysis = item.analysis
    if analysis.kind not in FAILURE_KINDS:
        return []
    message = item.message
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for recipient in analysis.recipients:
        address = _text(recipient.address.strip().lower())
        if not address or address in seen:
            continue
        seen.add(address)
        rows.append(
            {
                "inbound_message_id": inbound_id,
                "tenant": message.tenant,
                "account": message.account,
                "recipient": address,
                "kind": str(analysis.kind),
                "action": _text(recipient.action, 16),
                "status": _text(recipient.status, 16),
                "reply_code": _text(recipient.reply_code, 8),
                "reason": str(Reason.FEEDBACK if analysis.kind is Kind.COMPLAINT else recipient.reason),
                "hard": analysis.kind is Kind.BOUNCE and recipient.hard,
                "crm_activity": _crm_activity(analysis.kind, recipient),
                "diagnostic": _text(recipient.diagnostic),
                "remote_mta": _text(recipient.remote_mta),
                "tracker_key": clean_text(analysis.tracker_key),
                "original_message_id": clean_text(analysis.original_message_id),
                "occurred_at": recipient.arrival_date or analysis.date or message.received_at or recorded_at,
                "recorded_at": recorded_at,
            }
        )
    return rows


def _crm_activity(kind: Kind, recipient: Recipient) -> str | None:
    return recipient.crm_activity if kind is Kind.BOUNCE else None


def message_row(item: ToRecord, *, store_raw: bool, processed_at: datetime) -> dict[str, Any]:
    message, analysis = item.message, item.analysis
    return {
        "tenant": message.tenant,
        "account": message.account,
        "folder": _text(message.folder),
        "uidvalidity": message.uidvalidity,
        "uid": message.uid,
        "source_name": _text(message.name),
        "message_id": clean_text(analysis.message_id),
        "sha256": hashlib.sha256(message.raw).hexdigest(),
        "size": message.size,
        "truncated": message.truncated,
        "from_address": clean_text(analysis.from_address),
        "subject": clean_text(analysis.subject),
        "kind": str(analysis.kind),
        "feedback_type": clean_text(analysis.feedback_type),
        "mail_system": clean_text(analysis.mail_system),
        "tracker_key": clean_text(analysis.tracker_key),
        "original_message_id": clean_text(analysis.original_message_id),
        "received_at": message.received_at,
        "processed_at": processed_at,
        "parser_version": _text(item.parser_version, 32),
        "raw": message.raw if store_raw else None,
        "error": clean_text(analysis.error),
        "disposition": item.disposition,
        "disposed_at": None,
        "forward_to": clean_text(item.forward_to),
    }


class Store:
    """Records analysed messages; the daemon's only way into the database."""

    def __init__(self, engine: AsyncEngine, database: DatabaseConfig) -> None:
        self._engine = engine
        self._database = database

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @classmethod
    async def open(
        cls,
        database: DatabaseConfig,
        *,
        require_current_schema: bool = True,
        config_path: str | Path | None = None,
    ) -> Store:
        """Connect, and (by default) refuse a schema that is not exactly this bouncer's.

        ``config_path`` only makes the advice in the error name the right file.
        """
        engine = make_engine(database)
        try:
            with migrate.database_errors(database, "open"):
                async with engine.connect() as connection:
                    at = await migrate.database_revision(connection)
            problem = schema_problem(at, config_path) if require_current_schema else None
            if problem is not None:
                raise BouncerError(problem)
        except BaseException:  # a Store that is not returned must not leave its pool behind
            await engine.dispose()
            raise
        return cls(engine, database)

    async def close(self) -> None:
        await self._engine.dispose()

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # --- recording -------------------------------------------------------------------------

    async def record(self, items: Sequence[ToRecord]) -> list[Handled]:
        """Record a batch in one transaction; one :class:`Handled` per item, in order.

        A message already recorded for its account (same sha256) adds nothing: its
        existing id comes back with its stored disposition, or ``none`` when that has
        already been carried out.
        """
        if not items:
            return []
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                return await self._record_once(items)
            except DBAPIError as exc:
                # PostgreSQL may still pick this transaction as a deadlock victim (against a
                # concurrent mark_disposed, say); it was rolled back whole, so run it again.
                if attempt == DEADLOCK_ATTEMPTS or not _is_deadlock(exc):
                    raise
        raise AssertionError("unreachable")

    async def _record_once(self, items: Sequence[ToRecord]) -> list[Handled]:
        now = utcnow()
        rows = [message_row(item, store_raw=self._database.store_raw, processed_at=now) for item in items]
        keys = [(row["account"], row["sha256"]) for row in rows]
        first_index: dict[tuple[str, str], int] = {}
        for index, key in enumerate(keys):
            first_index.setdefault(key, index)
        # Always insert in key order: two processes recording overlapping batches then take
        # their row locks in the same order, so neither waits for the other in a cycle.
        unique_rows = [rows[first_index[key]] for key in sorted(first_index)]

        async with self._engine.begin() as connection:
            inserted: dict[tuple[str, str], int] = {}
            statement = (
                self._insert(inbound_messages)
                .on_conflict_do_nothing(index_elements=["account", "sha256"])
                .returning(inbound_messages.c.id, inbound_messages.c.account, inbound_messages.c.sha256)
            )
            for chunk in _message_chunks(unique_rows):
                result = await connection.execute(statement, chunk)
                for row_id, account, sha256 in result.all():
                    inserted[(account, sha256)] = row_id

            existing = await self._existing(connection, [key for key in first_index if key not in inserted])

            failures: list[dict[str, Any]] = []
            for key, row_id in inserted.items():
                failures.extend(failure_rows(items[first_index[key]], row_id, now))
            # RETURNING makes SQLAlchemy send one multi-row INSERT per chunk ("insertmanyvalues")
            # instead of a statement per row: about twice the throughput on PostgreSQL.
            insert_failures = (
                self._insert(delivery_failures)
                .on_conflict_do_nothing(index_elements=["inbound_message_id", "recipient"])
                .returning(delivery_failures.c.id)
            )
            for failure_chunk in _chunks(failures, FAILURE_CHUNK):
                await connection.execute(insert_failures, list(failure_chunk))

            await self._advance_mailboxes(connection, items, inserted, first_index, now)

        handled: list[Handled] = []
        for key in keys:
            if key in inserted:
                first = items[first_index[key]]
                # A forward's disposition waits until the forward is done (finish_forward).
                disposition: Disposition = "none" if first.forward_to is not None else first.disposition
                handled.append(Handled(inserted[key], disposition))
            else:
                known = existing[key]
                held_back = known.disposed_at is not None or (
                    known.forward_to is not None and known.forwarded_at is None
                )
                handled.append(Handled(known.inbound_id, "none" if held_back else known.disposition))
        return handled

    async def _existing(
        self, connection: AsyncConnection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], _Existing]:
        found: dict[tuple[str, str], _Existing] = {}
        by_account: dict[str, list[str]] = {}
        for account, sha256 in keys:
            by_account.setdefault(account, []).append(sha256)
        for account, hashes in by_account.items():
            for chunk in _chunks(hashes, LOOKUP_CHUNK):
                result = await connection.execute(
                    select(
                        inbound_messages.c.id,
                        inbound_messages.c.sha256,
                        inbound_messages.c.disposition,
                        inbound_messages.c.disposed_at,
                        inbound_messages.c.forward_to,
                        inbound_messages.c.forwarded_at,
                    ).where(inbound_messages.c.account == account, inbound_messages.c.sha256.in_(chunk))
                )
                for row_id, sha256, disposition, disposed_at, forward_to, forwarded_at in result.all():
                    found[(account, sha256)] = _Existing(row_id, disposition, disposed_at, forward_to, forwarded_at)
        missing = [key for key in keys if key not in found]
        if missing:  # cannot happen: the conflict that skipped the insert is a committed row
            raise BouncerError(f"a recorded message vanished during recording: {missing[0][0]} {missing[0][1]}")
        return found

    async def _advance_mailboxes(
        self,
        connection: AsyncConnection,
        items: Sequence[ToRecord],
        inserted: dict[tuple[str, str], int],
        first_index: dict[tuple[str, str], int],
        now: datetime,
    ) -> None:
        """Move each folder's checkpoint forward in the same transaction as its records."""
        new_indexes = {first_index[key] for key in inserted}
        folders: dict[tuple[str, str], dict[str, Any]] = {}
        for index, item in enumerate(items):
            message = item.message
            state = folders.setdefault(
                (message.account, message.folder),
                {
                    "account": message.account,
                    "folder": message.folder,
                    "tenant": message.tenant,
                    "uidvalidity": None,
                    "last_uid": None,
                    "messages_seen": 0,
                    "last_ok_at": now,
                },
            )
            if index in new_indexes:
                state["messages_seen"] += 1
            if message.uid is not None and message.uidvalidity is not None:
                if state["uidvalidity"] != message.uidvalidity:
                    # A batch spans one UIDVALIDITY; should it not, the newest one wins.
                    state["uidvalidity"], state["last_uid"] = message.uidvalidity, message.uid
                else:
                    state["last_uid"] = max(state["last_uid"], message.uid)
        for _, state in sorted(folders.items()):
            await self._upsert_mailbox(connection, state)

    async def _upsert_mailbox(self, connection: AsyncConnection, state: dict[str, Any]) -> None:
        statement = self._insert(mailbox_state).values(**state)
        new, old = statement.excluded, mailbox_state.c
        last_uid = case(
            (new.uidvalidity.is_(None), old.last_uid),
            (old.uidvalidity.is_(None), new.last_uid),
            (old.uidvalidity != new.uidvalidity, new.last_uid),
            (new.last_uid > func.coalesce(old.last_uid, 0), new.last_uid),
            else_=old.last_uid,
        )
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=["account", "folder"],
                set_={
                    "tenant": new.tenant,
                    "last_uid": last_uid,
                    "uidvalidity": func.coalesce(new.uidvalidity, old.uidvalidity),
                    "messages_seen": old.messages_seen + new.messages_seen,
                    "last_ok_at": new.last_ok_at,
                },
            )
        )

    # --- checkpoints and dispositions -------------------------------------------------------

    async def checkpoint(self, account: str, folder: str) -> Checkpoint | None:
        """Where the watcher of this folder resumes; None when nothing was recorded under a UIDVALIDITY yet."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(mailbox_state.c.uidvalidity, mailbox_state.c.last_uid).where(
                        mailbox_state.c.account == account, mailbox_state.c.folder == folder
                    )
                )
            ).one_or_none()
        if row is None or row.uidvalidity is None:
            return None
        return Checkpoint(uidvalidity=row.uidvalidity, last_uid=row.last_uid or 0)

    async def reset_checkpoint(self, account: str, folder: str, uidvalidity: int) -> None:
        """The server changed UIDVALIDITY: start the folder over (recording stays idempotent)."""
        statement = self._insert(mailbox_state).values(
            account=account, folder=folder, uidvalidity=uidvalidity, last_uid=0, messages_seen=0
        )
        async with self._engine.begin() as connection:
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["account", "folder"], set_={"uidvalidity": uidvalidity, "last_uid": 0}
                )
            )

    async def pending_dispositions(self, account: str, folder: str) -> list[PendingDisposition]:
        """Records whose move/delete/seen has not been confirmed, in UID (or file name) order.

        Each carries the UIDVALIDITY it was recorded under: a UID from another one means nothing.
        A message to forward appears here only once its forward is finished.
        """
        columns = inbound_messages.c
        async with self._engine.connect() as connection:
            result = await connection.execute(
                select(columns.id, columns.uid, columns.uidvalidity, columns.source_name, columns.disposition)
                .where(
                    columns.account == account,
                    columns.folder == folder,
                    columns.disposed_at.is_(None),
                    columns.disposition.in_(PENDING_DISPOSITIONS),
                    _forward_done_or_none(),
                )
                .order_by(columns.uidvalidity, columns.uid, columns.source_name, columns.id)
            )
            return [
                PendingDisposition(
                    inbound_id=row.id,
                    uid=row.uid,
                    uidvalidity=row.uidvalidity,
                    name=row.source_name,
                    disposition=row.disposition,
                )
                for row in result
            ]

    async def mark_disposed(self, inbound_ids: Sequence[int]) -> None:
        """The source has carried out these records' dispositions.

        A record whose forward is not finished is left alone: its source answered ``none``
        for it (held back), and its real disposition is still to come.
        """
        if not inbound_ids:
            return
        now = utcnow()
        async with self._engine.begin() as connection:
            for chunk in _chunks(list(inbound_ids), LOOKUP_CHUNK):
                await connection.execute(
                    update(inbound_messages)
                    .where(
                        and_(
                            inbound_messages.c.id.in_(chunk),
                            inbound_messages.c.disposed_at.is_(None),
                            _forward_done_or_none(),
                        )
                    )
                    .values(disposed_at=now)
                )

    # --- forwarding people's mail ---------------------------------------------------------------
    # Exactly once, across crashes and processes: claim (commit) -> send -> finish (commit).
    # Every state change is one conditional UPDATE whose row count says whether it happened;
    # nothing is read first, so two processes can never both claim one forward.

    async def pending_forwards(self, account: str, folder: str, *, limit: int | None = None) -> list[PendingForward]:
        """Recorded forwards nobody has claimed yet (new, or released after a failure), oldest first."""
        columns = inbound_messages.c
        statement = (
            select(
                columns.id,
                columns.account,
                columns.folder,
                columns.source_name,
                columns.uid,
                columns.uidvalidity,
                columns.forward_to,
                columns.truncated,
                columns.raw,
                columns.forward_error,
            )
            .where(
                columns.account == account,
                columns.folder == folder,
                columns.forward_to.is_not(None),
                columns.forwarded_at.is_(None),
                columns.forward_started_at.is_(None),
            )
            .order_by(columns.uidvalidity, columns.uid, columns.source_name, columns.id)
        )
        if limit is not None:
            statement = statement.limit(limit)
        async with self._engine.connect() as connection:
            result = await connection.execute(statement)
            return [
                PendingForward(
                    inbound_id=row.id,
                    account=row.account,
                    folder=row.folder,
                    name=row.source_name,
                    uid=row.uid,
                    uidvalidity=row.uidvalidity,
                    forward_to=row.forward_to,
                    truncated=row.truncated,
                    raw=row.raw,
                    last_error=row.forward_error,
                )
                for row in result
            ]

    async def claim_forward(self, inbound_id: int) -> bool:
        """Take this forward before sending it; False when another sender has it (or it is done).

        Committed when this returns: from now on a crash leaves the forward "in doubt",
        never sent again automatically.
        """
        columns = inbound_messages.c
        return await self._update_one(
            update(inbound_messages)
            .where(
                columns.id == inbound_id,
                columns.forward_to.is_not(None),
                columns.forward_started_at.is_(None),
                columns.forwarded_at.is_(None),
            )
            .values(forward_started_at=utcnow())
        )

    async def finish_forward(self, inbound_id: int) -> bool:
        """The SMTP server took the forward: record it, and let the message's disposition go ahead
        (it appears in :meth:`pending_dispositions` from now on).

        False when the forward was not claimed or was already finished (nothing changed).
        """
        return await self._update_one(
            update(inbound_messages)
            .where(_claimed_and_unfinished(inbound_id))
            .values(forwarded_at=utcnow(), forward_error=None)
        )

    async def release_forward(self, inbound_id: int, error: str) -> bool:
        """The forward was certainly not sent (the server refused it): give up the claim and
        remember why, so that it is pending again and retried later.

        False when it was not claimed or is already finished (nothing changed).
        """
        return await self._update_one(
            update(inbound_messages)
            .where(_claimed_and_unfinished(inbound_id))
            .values(forward_started_at=None, forward_error=clean_text(error, MAX_ERROR_TEXT))
        )

    async def stuck_forwards(
        self,
        account: str | None = None,
        folder: str | None = None,
        *,
        started_before: datetime | None = None,
    ) -> list[ForwardInDoubt]:
        """Forwards claimed but never finished (a crash between claim and finish), oldest first.

        They may have been sent: they are never resent automatically and their messages
        stay where they are (disposition held back). ``started_before`` leaves out claims
        so recent that a sender may still be working on them.
        """
        async with self._engine.connect() as connection:
            return await forwards_in_doubt(connection, account=account, folder=folder, started_before=started_before)

    async def _update_one(self, statement: Update) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(statement)
            return bool(result.rowcount == 1)

    # --- health ------------------------------------------------------------------------------

    async def folder_ok(self, account: str, folder: str) -> None:
        await self._touch(account, folder, {"last_ok_at": utcnow()})

    async def folder_failed(self, account: str, folder: str, error: str) -> None:
        await self._touch(account, folder, {"last_error": clean_text(error, MAX_ERROR_TEXT), "last_error_at": utcnow()})

    async def _touch(self, account: str, folder: str, values: dict[str, Any]) -> None:
        statement = self._insert(mailbox_state).values(account=account, folder=folder, messages_seen=0, **values)
        async with self._engine.begin() as connection:
            await connection.execute(statement.on_conflict_do_update(index_elements=["account", "folder"], set_=values))

    async def mailbox_states(self) -> list[MailboxState]:
        async with self._engine.connect() as connection:
            return await mailbox_states(connection)


async def mailbox_states(connection: AsyncConnection, accounts: Iterable[str] | None = None) -> list[MailboxState]:
    statement = select(mailbox_state).order_by(mailbox_state.c.account, mailbox_state.c.folder)
    if accounts is not None:
        statement = statement.where(mailbox_state.c.account.in_(list(accounts)))
    result = await connection.execute(statement)
    return [
        MailboxState(
            account=row.account,
            folder=row.folder,
            tenant=row.tenant,
            uidvalidity=row.uidvalidity,
            last_uid=row.last_uid,
            messages_seen=row.messages_seen,
            last_ok_at=row.last_ok_at,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
        )
        for row in result
    ]


async def forwards_in_doubt(
    connection: AsyncConnection,
    *,
    tenant: str | None = None,
    account: str | None = None,
    folder: str | None = None,
    started_before: datetime | None = None,
) -> list[ForwardInDoubt]:
    """Claimed, never finished forwards (see :meth:`Store.stuck_forwards`); also read by ``bouncer report``."""
    columns = inbound_messages.c
    statement = select(
        columns.id,
        columns.tenant,
        columns.account,
        columns.folder,
        columns.source_name,
        columns.uid,
        columns.uidvalidity,
        columns.forward_to,
        columns.from_address,
        columns.subject,
        columns.forward_started_at,
    ).where(  # not the raw bytes: a report lists these
        columns.forward_to.is_not(None),
        columns.forwarded_at.is_(None),
        columns.forward_started_at.is_not(None),
    )
    if tenant is not None:
        statement = statement.where(columns.tenant == tenant)
    if account is not None:
        statement = statement.where(columns.account == account)
    if folder is not None:
        statement = statement.where(columns.folder == folder)
    if started_before is not None:
        statement = statement.where(columns.forward_started_at < started_before)
    result = await connection.execute(statement.order_by(columns.forward_started_at, columns.id))
    return [
        ForwardInDoubt(
            inbound_id=row.id,
            tenant=row.tenant,
            account=row.account,
            folder=row.folder,
            name=row.source_name,
            uid=row.uid,
            uidvalidity=row.uidvalidity,
            forward_to=row.forward_to,
            from_address=row.from_address,
            subject=row.subject,
            started_at=row.forward_started_at,
        )
        for row in result
    ]


def schema_problem(at: str | None, config_path: str | Path | None = None) -> str | None:
    """None when the database is at this bouncer's revision, else the sentence to show."""
    head = migrate.head_revision()
    if at == head:
        return None
    command = f"bouncer db upgrade -c {config_path or 'FILE'}"
    if at is None:
        return f"the database has no bouncer schema yet (this bouncer needs {head}): run `{command}`"
    if at in migrate.known_revisions():
        return f"the database schema is at {at} but this bouncer needs {head}: run `{command}`"
    return (
        f"the database schema is at {at}, which is newer than this bouncer knows (it needs {head}): "
        "a newer bouncer has upgraded it; run that version, or restore the database from before the upgrade"
    )
