"""A local Maildir, watched like an IMAP folder.

Layout (Maildir++): the account's ``maildir`` is INBOX; another folder ``F`` is the
sub-maildir ``.F`` (``A/B`` is ``.A.B``); ``dispose: move`` puts handled messages in the
sub-maildir named by ``processed_folder`` (``.Processed/{cur,new,tmp}``, created when
missing), keeping their file names.

Maildir has no UIDs: a message's identity is its file name up to the ``:2,`` flags (the
flags change when a mail client reads it), and de-duplication is the store's, by sha256.
Delivery is atomic (tmp/ then a rename into new/), so every file in new/ or cur/ is
complete. The folder is polled: listing a local directory is cheap, and inotify is not
available everywhere (network file systems, containers).

Messages whose disposition leaves them in place (people's mail, ``keep``, ``seen``) are
remembered by name for the life of the watcher, so each poll reads only what is new.
After a restart they are read once more and the store recognises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from bouncer.config import AccountConfig
from bouncer.errors import BouncerError
from bouncer.logs import get_logger
from bouncer.sources.base import Disposition, FetchedMessage, PendingDisposition, Pipeline

__all__ = ["MaildirWatcher", "folder_path"]

ACTED_ON = frozenset({"move", "delete", "seen"})
POLL_INTERVAL = 1.0  # seconds; a local directory listing costs next to nothing
FULL_RESCAN_INTERVAL = 30.0  # list the folder even when its directories' mtimes did not change
OK_HEARTBEAT = 300.0  # seconds between "still fine" updates of an idle folder's health row
BATCH_MESSAGES = 200
BATCH_BYTES = 16 * 1024 * 1024
HEADER_READ_LIMIT = 1024 * 1024  # how much of an oversized message is read looking for its header
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 300.0


def folder_path(root: Path, folder: str) -> Path:
    """The directory of a Maildir++ folder: INBOX is the root, ``A/B`` is ``.A.B``."""
    if folder.upper() == "INBOX":
        return root
    return root / ("." + folder.replace("/", "."))


def base_name(file_name: str) -> str:
    """The message's identity: its file name without the ``:2,FLAGS`` info part."""
    return file_name.split(":", 1)[0]


def _flags(file_name: str) -> str:
    _, _, info = file_name.partition(":")
    return info[2:] if info.startswith("2,") else ""


@dataclass(frozen=True, slots=True)
class _Entry:
    subdir: str  # "new" or "cur"
    file_name: str
    size: int
    mtime: float

    @property
    def base(self) -> str:
        return base_name(self.file_name)


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _ensure_maildir(path: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)


def _list(path: Path) -> list[_Entry]:
    entries: list[_Entry] = []
    for subdir in ("new", "cur"):
        with os.scandir(path / subdir) as listing:
            for item in listing:
                if item.name.startswith("."):  # Maildir convention: hidden files are not messages
                    continue
                try:
                    stat = item.stat()
                except FileNotFoundError:  # moved away by a mail client while we listed
                    continue
                if item.is_file():
                    entries.append(_Entry(subdir, item.name, stat.st_size, stat.st_mtime))
    entries.sort(key=lambda e: (e.mtime, e.file_name))  # oldest first
    return entries


def _dir_stamp(path: Path) -> tuple[int, int]:
    return (os.stat(path / "new").st_mtime_ns, os.stat(path / "cur").st_mtime_ns)


def _read_header(file: Path) -> bytes:
    """The header of an oversized message: everything up to the first empty line."""
    with file.open("rb") as handle:
        data = b""
        while len(data) < HEADER_READ_LIMIT:
            chunk = handle.read(64 * 1024)
            if not chunk:
                break
            data += chunk
            for separator in (b"\r\n\r\n", b"\n\n"):
                end = data.find(separator)
                if end >= 0:
                    return data[: end + len(separator)]
        return data[:HEADER_READ_LIMIT]


class MaildirWatcher:
    """Watches one folder of one Maildir account and hands what arrives to the pipeline."""

    def __init__(self, account: AccountConfig, folder: str, pipeline: Pipeline) -> None:
        if account.maildir is None:
            raise ValueError("a MaildirWatcher needs an account with maildir")
        self.account = account
        self.folder = folder
        self.pipeline = pipeline
        self.path = folder_path(account.maildir, folder)
        self.processed_path = folder_path(account.maildir, account.processed_folder)
        self.poll_interval = min(POLL_INTERVAL, account.poll_interval)
        self._left_in_place: set[str] = set()
        self._stamp: tuple[int, int] | None = None
        self._last_full_scan = 0.0
        self._pending_checked = False
        self._log = get_logger(account=account.name, folder=folder)

    # --- the two ways to run ---------------------------------------------------------

    async def drain(self) -> int:
        """Process everything in the folder now; raise :class:`BouncerError` when it cannot be read.

        Returns how many messages were handed to the pipeline.
        """
        try:
            count = await self._drain()
        except BouncerError as exc:
            await self._report_failure(str(exc))
            raise
        except OSError as exc:
            message = f"maildir {self.path}: {exc.strerror or exc}"
            await self._report_failure(message)
            raise BouncerError(message) from None
        await self.pipeline.folder_ok(self.account.name, self.folder)
        return count

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set; every failure is logged, backed off and retried."""
        structlog.contextvars.bind_contextvars(account=self.account.name, folder=self.folder)
        failures = 0
        loop = asyncio.get_running_loop()
        last_ok: float | None = None
        while not stop.is_set():
            try:
                processed = await self._drain(stop)
                # The folder's health row: on the first success, after a recovery, when
                # something was processed, and otherwise every few minutes; not every poll.
                if processed or failures or last_ok is None or loop.time() - last_ok > OK_HEARTBEAT:
                    await self.pipeline.folder_ok(self.account.name, self.folder)
                    last_ok = loop.time()
                failures = 0
                delay = self.poll_interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bad folder or a database outage: retry, never give up
                failures += 1
                # The failure may have come between a move and its acknowledgement: look at
                # the store's pending dispositions again before anything new.
                self._pending_checked = False
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
                message = str(exc) if isinstance(exc, BouncerError) else f"{type(exc).__name__}: {exc}"
                self._log.warning("maildir_failed", error=message, retry_in=round(delay, 1), failures=failures)
                await self._report_failure(message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    def nudge(self) -> None:
        """Dispositions are ready in the store (a forward finished): apply them at the next poll."""
        self._pending_checked = False

    # --- internals -------------------------------------------------------------------

    async def _report_failure(self, message: str) -> None:
        try:
            await self.pipeline.folder_failed(self.account.name, self.folder, message)
        except Exception as exc:  # the database may be the thing that failed
            self._log.debug("folder_failed_not_recorded", error=str(exc))

    def _check_folder(self) -> None:
        if not _is_maildir(self.path):
            raise BouncerError(f"maildir {self.path} is not a Maildir (it needs cur/ and new/ folders)")

    async def _drain(self, stop: asyncio.Event | None = None) -> int:
        await asyncio.to_thread(self._check_folder)
        if not self._pending_checked:
            await self._finish_pending()
            self._pending_checked = True
        loop = asyncio.get_running_loop()
        stamp = await asyncio.to_thread(_dir_stamp, self.path)
        now = loop.time()
        if stamp == self._stamp and now - self._last_full_scan < FULL_RESCAN_INTERVAL:
            return 0
        entries = await asyncio.to_thread(_list, self.path)
        self._stamp = None  # until every batch of this listing is done: a failure must rescan
        todo = [e for e in entries if e.base not in self._left_in_place]
        present = {e.base for e in entries}
        self._left_in_place &= present  # forget what has gone (deleted or moved by someone)
        count = 0
        while todo:
            if stop is not None and stop.is_set():
                break
            batch, todo = self._take_batch(todo)
            count += await self._process(batch)
        else:
            self._stamp, self._last_full_scan = stamp, now
        return count

    def _take_batch(self, todo: list[_Entry]) -> tuple[list[_Entry], list[_Entry]]:
        size, index = 0, 0
        while index < len(todo) and index < BATCH_MESSAGES:
            size += min(todo[index].size, self.account.max_message_bytes)
            if index > 0 and size > BATCH_BYTES:
                break
            index += 1
        return todo[:index], todo[index:]

    def _read(self, entries: Sequence[_Entry]) -> list[FetchedMessage]:
        messages: list[FetchedMessage] = []
        for entry in entries:
            file = self.path / entry.subdir / entry.file_name
            truncated = entry.size > self.account.max_message_bytes
            try:
                raw = _read_header(file) if truncated else file.read_bytes()
            except FileNotFoundError:  # a mail client moved or deleted it since the listing
                continue
            messages.append(
                FetchedMessage(
                    tenant=self.account.tenant,
                    account=self.account.name,
                    folder=self.folder,
                    uid=None,
                    uidvalidity=None,
                    name=entry.base,
                    raw=raw,
                    size=entry.size,
                    truncated=truncated,
                    received_at=datetime.fromtimestamp(entry.mtime, UTC),
                )
            )
        return messages

    async def _process(self, entries: Sequence[_Entry]) -> int:
        messages = await asyncio.to_thread(self._read, entries)
        if not messages:
            return 0
        handled = await self.pipeline.handle(messages)
        where = {e.base: (e.subdir, e.file_name) for e in entries}
        work = [(m.name, h.disposition, where.get(m.name)) for m, h in zip(messages, handled, strict=True)]
        await asyncio.to_thread(self._apply_all, work)
        # Only what was acted on is acknowledged: a message left in place has no disposition to confirm.
        acted = [h.inbound_id for h in handled if h.disposition in ACTED_ON]
        await self.pipeline.acknowledged(self.account.name, self.folder, acted)
        return len(messages)

    def _apply_all(self, work: Sequence[tuple[str, Disposition, tuple[str, str] | None]]) -> None:
        for base, disposition, where in work:
            self._apply(base, disposition, where)

    async def _finish_pending(self) -> None:
        """Apply dispositions that were recorded but not applied before a crash."""
        pending: Sequence[PendingDisposition] = await self.pipeline.pending_dispositions(self.account.name, self.folder)
        if not pending:
            return
        await asyncio.to_thread(self._apply_pending, pending)
        await self.pipeline.acknowledged(self.account.name, self.folder, [p.inbound_id for p in pending])
        self._log.info("pending_dispositions_applied", count=len(pending))

    def _apply_pending(self, pending: Sequence[PendingDisposition]) -> None:
        where = {e.base: (e.subdir, e.file_name) for e in _list(self.path)}
        for item in pending:
            self._apply(item.name, item.disposition, where.get(item.name))

    def _locate(self, base: str, hint: tuple[str, str] | None) -> tuple[str, str] | None:
        """Where the message is now (subdir, file name): a mail client may have renamed it since listing."""
        if hint is None:  # it was not in the folder when we looked
            return None
        if (self.path / hint[0] / hint[1]).exists():
            return hint
        for entry in _list(self.path):  # rare: only when the file moved under us
            if entry.base == base:
                return entry.subdir, entry.file_name
        return None

    def _apply(self, base: str, disposition: Disposition, hint: tuple[str, str] | None) -> None:
        if disposition in ("none", "keep"):
            self._left_in_place.add(base)
            return
        found = self._locate(base, hint)
        if found is None:  # already gone: disposed before a crash, or by someone else
            return
        subdir, file_name = found
        source = self.path / subdir / file_name
        if disposition == "delete":
            with contextlib.suppress(FileNotFoundError):
                source.unlink()
        elif disposition == "seen":
            flags = "".join(sorted(set(_flags(file_name)) | {"S"}))
            with contextlib.suppress(FileNotFoundError):
                os.replace(source, self.path / "cur" / f"{base}:2,{flags}")
            self._left_in_place.add(base)
        elif disposition == "move":
            if self.processed_path == self.path:  # watching the processed folder itself
                self._left_in_place.add(base)
                return
            _ensure_maildir(self.processed_path)
            with contextlib.suppress(FileNotFoundError):
                os.replace(source, self.processed_path / subdir / file_name)
