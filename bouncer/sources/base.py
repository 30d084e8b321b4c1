"""What every source (IMAP folder, Maildir) hands on, and what it is told to do afterwards.

A watcher owns one (account, folder): it connects, fetches what is new in bounded
batches, hands each batch to the :class:`Pipeline` (which analyses and records it in one
transaction), applies the dispositions the pipeline returns, and only then tells the
pipeline the batch is acknowledged. A crash anywhere in between is harmless: recording is
idempotent (one record per account and sha256), and recorded-but-not-yet-disposed
messages are found again through :meth:`Pipeline.pending_dispositions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Disposition = Literal["move", "delete", "seen", "keep", "none"]
"""What to do with a handled message: the account's ``dispose`` setting for the messages
it applies to, ``none`` for those that must stay exactly as they were (people's mail)."""


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message as a source fetched it."""

    tenant: str
    account: str
    folder: str
    uid: int | None  # IMAP UID; None for a Maildir message
    uidvalidity: int | None  # IMAP UIDVALIDITY; None for Maildir
    name: str  # where the source finds it again: the UID as text, or the Maildir file name
    raw: bytes  # the whole message, or only its header when ``truncated``
    size: int  # the full size in bytes as the server reports it
    truncated: bool = False  # larger than max_message_bytes: only the header was fetched
    received_at: datetime | None = None  # IMAP INTERNALDATE, or the Maildir file's mtime


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a watcher resumes: the last UID whose record is committed, under this UIDVALIDITY."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True, slots=True)
class Handled:
    """The record of one fetched message, and what its source must now do with it."""

    inbound_id: int  # inbound_messages.id (the existing record's id when it was a duplicate)
    disposition: Disposition


@dataclass(frozen=True, slots=True)
class PendingDisposition:
    """A message recorded but not yet acknowledged on the server (a crash came between)."""

    inbound_id: int
    uid: int | None
    uidvalidity: int | None
    name: str
    disposition: Disposition


class Pipeline(Protocol):
    """The daemon's side of a watcher: analyse, record, remember."""

    async def checkpoint(self, account: str, folder: str) -> Checkpoint | None: ...

    async def handle(self, batch: Sequence[FetchedMessage]) -> Sequence[Handled]:
        """Analyse and record the batch (committed when this returns); one result per message, in order."""
        ...

    async def pending_dispositions(self, account: str, folder: str) -> Sequence[PendingDisposition]: ...

    async def acknowledged(self, account: str, folder: str, inbound_ids: Sequence[int]) -> None:
        """The dispositions of these records have been applied on the server."""
        ...

    async def folder_ok(self, account: str, folder: str) -> None: ...

    async def folder_failed(self, account: str, folder: str, error: str, hint: str | None = None) -> None:
        """The folder failed with ``error``; ``hint`` is the one-sentence hint for it, if one is known."""
        ...
