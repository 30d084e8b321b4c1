"""One IMAP folder, watched: catch up on what is there, then wait for news (IDLE or polling).

A :class:`FolderWatcher` owns one (account, folder) and one IMAP connection. Its cycle:

1. connect (:func:`open_imap`), find the folder (by name or special use), SELECT it;
2. compare UIDVALIDITY with the pipeline's checkpoint; if it changed, rescan from UID 1
   (the store keeps one record per message sha256, so nothing is counted twice);
3. re-apply the dispositions of records committed before a crash but never acknowledged;
4. work through the backlog oldest first in bounded batches: fetch (``BODY.PEEK``: reading
   marks nothing seen), ``pipeline.handle`` (commits), apply the dispositions, then
   ``pipeline.acknowledged``. Batches overlap, two deep: batch N+1 is analysed and
   recorded while batch N is moved and acknowledged, but no batch is disposed of before
   its own commit;
5. IDLE (re-issued well before the 29 minutes of RFC 2177) or poll at ``poll_interval``,
   and on news go back to 4.

Any failure closes the connection, is reported with ``pipeline.folder_failed`` and retried
after an exponential backoff with jitter (1 s up to 5 min). A refused login is logged once
per distinct error, not at every retry. :meth:`FolderWatcher.request_stop` ends the watcher
gracefully: the batch in hand is finished, the session logs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bouncer.config import AccountConfig, ImapConfig
from bouncer.credentials import Credential
from bouncer.logs import get_logger
from bouncer.sources.base import FetchedMessage, Handled, Pipeline
from bouncer.sources.imap.connection import (
    FolderNotFound,
    ImapAuthError,
    ImapError,
    ImapMessage,
    ImapProtocolError,
    ImapSession,
    SelectedFolder,
    open_imap,
)
from bouncer.sources.imap.hints import imap_error_hint

__all__ = ["DispositionError", "FolderWatcher", "WatcherOptions", "WatcherState", "WatcherStatus", "backoff_delay"]

WatcherState = Literal["starting", "connecting", "fetching", "idle", "polling", "backoff", "failed", "stopped"]
"""``backoff``: waiting to retry after a transient error (network, server, database);
``failed``: waiting to retry after an error that needs a person (refused login, missing
folder), retried anyway since the fix is often made on the server side."""

Connector = Callable[..., Awaitable[ImapSession]]

_MAX_UIDS_PER_COMMAND = 500


@dataclass(frozen=True, slots=True)
class WatcherOptions:
    """Tuning that is not in the configuration file (tests and benchmarks change it)."""

    # Messages per fetch/handle/dispose round. bench/daemon_imap_drain_profile.py, 10,000-message
    # backlog on 2 cores: 100 -> 899-976 msg/s, 250 -> 1122, 500 -> 1160 (per-batch round
    # trips amortised); 250 takes most of the gain with a smaller batch in hand on SIGTERM.
    batch_size: int = 250
    batch_bytes: int = 32 * 1024 * 1024  # and at most this many bytes of messages per round
    idle_seconds: float = 25 * 60  # re-issue IDLE before the server's 30-minute limit
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    use_idle: bool = True  # False: poll even when the server has IDLE
    stop_grace: float = 8.0  # on cancellation, how long the batch in hand may take to finish


@dataclass(frozen=True, slots=True)
class WatcherStatus:
    """What a watcher is doing, for health checks and metrics."""

    account: str
    folder: str
    state: WatcherState
    last_ok: datetime | None = None  # the last completed catch-up
    last_error: str | None = None  # None once the folder works again
    next_retry: datetime | None = None  # when in backoff
    failures: int = 0  # consecutive failed attempts
    processed: int = 0  # messages handled since the watcher started


def backoff_delay(attempt: int, initial: float = 1.0, maximum: float = 300.0) -> float:
    """Exponential backoff with jitter: attempt 0 -> 0.5-1 s, doubling, capped at ``maximum``."""
    ceiling: float = min(maximum, initial * 2.0 ** min(attempt, 30))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _now() -> datetime:
    return datetime.now(UTC)


class DispositionError(ImapError):
    """A disposition that cannot work with this configuration (retrying will not help)."""

    transient = False


class _Stopping(Exception):
    """Internal: a stop was requested while waiting."""


class FolderWatcher:
    """Watches one folder of one IMAP account and feeds a :class:`Pipeline`.

    ``await watcher.run()`` runs until :meth:`request_stop` (or cancellation);
    ``await watcher.run_once()`` processes what is in the folder now and returns (``--once``).
    """

    def __init__(
        self,
        account: AccountConfig,
        folder: str,
        pipeline: Pipeline,
        *,
        options: WatcherOptions | None = None,
        credential: Credential | None = None,
        connect: Connector = open_imap,
    ) -> None:
        if account.imap is None:
            raise ValueError(f"account {account.name} has no imap settings")
        self.account = account
        self.imap: ImapConfig = account.imap
        self.folder = folder  # as configured: a name, or a special use like \Junk
        self.pipeline = pipeline
        self.options = options or WatcherOptions()
        self._credential = credential
        self._connect = connect
        self._stop = asyncio.Event()
        # Ends a wait (IDLE or poll) early: set by request_stop and by nudge.
        self._wake = asyncio.Event()
        self._session: ImapSession | None = None
        self._selected: SelectedFolder | None = None
        self._next_uid = 1
        self._processed_folder: str | None = None
        self._last_auth_error: str | None = None
        self._status = WatcherStatus(account=account.name, folder=folder, state="starting")
        self.log = get_logger(account=account.name, folder=folder)

    # --- observable state -------------------------------------------------------------

    @property
    def status(self) -> WatcherStatus:
        return self._status

    def _set(self, **changes: Any) -> None:
        self._status = dataclasses.replace(self._status, **changes)

    # --- lifecycle ----------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the batch in hand, log out and return from :meth:`run` (SIGTERM, SIGHUP)."""
        self._stop.set()
        self._wake.set()  # ends a running IDLE

    def nudge(self) -> None:
        """Dispositions are ready in the store (a forward finished): apply them now, not at
        the next reconnect. Ends a running IDLE or poll; never blocks."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> None:
        """Watch the folder until asked to stop; never raises for server or pipeline trouble."""
        attempt = 0
        try:
            while not self.stopping:
                try:
                    await self._connect_and_select()
                    await self._catch_up()
                    attempt = 0
                    await self._watch()
                except (asyncio.CancelledError, _Stopping):
                    raise
                except Exception as exc:
                    await self._failed(exc)
                    await self._close()
                    delay = backoff_delay(attempt, self.options.backoff_initial, self.options.backoff_max)
                    attempt += 1
                    state: WatcherState = "backoff" if getattr(exc, "transient", True) else "failed"
                    self._set(state=state, next_retry=_now() + timedelta(seconds=delay), failures=attempt)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
        except _Stopping:
            pass
        finally:
            await self._close()
            self._set(state="stopped", next_retry=None)

    async def run_once(self) -> None:
        """Process everything in the folder now, then log out. Failures are reported and raised."""
        try:
            await self._connect_and_select()
            await self._catch_up()
        except _Stopping:
            pass
        except Exception as exc:
            await self._failed(exc)
            raise
        finally:
            await self._close()
            self._set(state="stopped")

    async def _close(self) -> None:
        session, self._session, self._selected = self._session, None, None
        if session is not None:
            await session.logout()

    # --- failures -----------------------------------------------------------------------

    async def _failed(self, exc: Exception) -> None:
        message = str(exc) or type(exc).__name__
        hint = imap_error_hint(exc, self.imap) if isinstance(exc, ImapError) else None
        said = {"hint": hint.text} if hint is not None else {}
        if isinstance(exc, ImapAuthError):
            # The same refused password every few minutes says nothing new: log it once.
            if message != self._last_auth_error:
                self.log.error("imap_login_refused", error=message, **said)
                self._last_auth_error = message
            else:
                self.log.debug("imap_login_refused_again", error=message)
        elif isinstance(exc, FolderNotFound):
            self.log.error("imap_folder_missing", error=message, **said)
        elif isinstance(exc, ImapError):
            self.log.warning("imap_failed", error=message, step=exc.step, **said)
        else:
            self.log.error("watcher_failed", error=message, error_type=type(exc).__name__)
        self._set(last_error=message)
        try:
            await self.pipeline.folder_failed(
                self.account.name, self.folder, message, hint=hint.text if hint is not None else None
            )
        except Exception as report_error:  # the database may be what is failing
            self.log.warning("folder_failed_not_recorded", error=str(report_error))

    # --- connecting ---------------------------------------------------------------------

    async def _connect_and_select(self) -> None:
        self._set(state="connecting")
        # A connection attempt may take the whole timeout (an unreachable host): a stop
        # request must not wait for it.
        connecting = asyncio.ensure_future(self._connect(self.imap, credential=self._credential))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({connecting, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
        if connecting.cancelled():
            raise _Stopping
        session = connecting.result()
        self._session = session
        if self.stopping:
            raise _Stopping
        if self.folder.startswith("\\"):
            name = await session.resolve_folder(self.folder)
        else:
            name = "INBOX" if self.folder.upper() == "INBOX" else self.folder
        self._selected = await session.select(name)
        self._last_auth_error = None
        self.log.debug("imap_selected", name=name, uidvalidity=self._selected.uidvalidity)

    # --- catching up --------------------------------------------------------------------

    async def _catch_up(self) -> None:
        """Pending dispositions, then every message past the checkpoint, oldest first."""
        session, selected = self._require()
        checkpoint = await self.pipeline.checkpoint(self.account.name, self.folder)
        if checkpoint is None:
            self._next_uid = 1
        elif checkpoint.uidvalidity != selected.uidvalidity:
            self.log.warning(
                "imap_uidvalidity_changed", old=checkpoint.uidvalidity, new=selected.uidvalidity, action="rescan"
            )
            self._next_uid = 1
        else:
            self._next_uid = checkpoint.last_uid + 1
        await self._reapply_pending(session, selected)
        await self._fetch_new()
        await self.pipeline.folder_ok(self.account.name, self.folder)
        self._set(last_ok=_now(), last_error=None, next_retry=None, failures=0)

    async def _reapply_pending(self, session: ImapSession, selected: SelectedFolder) -> None:
        pending = await self.pipeline.pending_dispositions(self.account.name, self.folder)
        if not pending:
            return
        current = [p for p in pending if p.uid is not None and p.uidvalidity == selected.uidvalidity]
        stale = [p for p in pending if p not in current]
        if current:
            self.log.info("imap_reapplying_dispositions", count=len(current))
            await self._dispose(session, [(p.uid or 0, p.disposition) for p in current])
        # Under another UIDVALIDITY the UIDs mean nothing: the rescan finds these messages
        # again, and their records (deduplicated) come back with a disposition to apply.
        if stale:
            self.log.info("imap_pending_dispositions_stale", count=len(stale))
        await self.pipeline.acknowledged(self.account.name, self.folder, [p.inbound_id for p in pending])

    async def _fetch_new(self) -> None:
        """Every message from ``_next_uid`` on, in batches, until a search finds none."""
        session, selected = self._require()
        while True:
            uids = await session.search_uids(self._next_uid)
            if not uids:
                return
            self._set(state="fetching")
            await self._drain(session, selected, uids)
            self._next_uid = max(self._next_uid, uids[-1] + 1)

    async def _drain(self, session: ImapSession, selected: SelectedFolder, uids: Sequence[int]) -> None:
        """Work through ``uids`` as a pipeline two batches deep.

        While batch N is moved and acknowledged (waiting on the IMAP server, then on the
        database), batch N+1 is analysed and recorded (CPU on this loop, then the database),
        and batch N+2 is fetched once the connection is free. Each batch is still disposed
        of only after its own commit; a crash leaves at most two committed batches with
        dispositions pending, which the next start re-applies (``_reapply_pending``).
        The IMAP connection carries one command at a time (``imap_lock``).
        """
        wind_down = asyncio.Event()  # set on cancellation: finish the batches in hand, start no more
        work = asyncio.ensure_future(self._drain_pipelined(session, selected, uids, wind_down))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            # A batch interrupted half-way is harmless (records are idempotent, dispositions
            # are re-applied), but finishing it avoids redoing the work after a restart.
            wind_down.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(work), self.options.stop_grace)
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
            raise

    async def _drain_pipelined(
        self, session: ImapSession, selected: SelectedFolder, uids: Sequence[int], wind_down: asyncio.Event
    ) -> None:
        batches = self._batches(session, uids)
        imap_lock = asyncio.Lock()

        async def fetch_next() -> list[ImapMessage] | None:
            async with imap_lock:
                return await anext(batches, None)

        recording: asyncio.Future[Sequence[Handled]] | None = None
        prefetch: asyncio.Future[list[ImapMessage] | None] | None = None
        in_flight: list[asyncio.Future[Any]] = []  # every background step, cancelled on the way out
        try:
            current = await fetch_next()
            if current is None:
                return
            recording = asyncio.ensure_future(self._record(selected, current))
            prefetch = asyncio.ensure_future(fetch_next())
            in_flight += [recording, prefetch]
            while current is not None and recording is not None:
                following, recording, prefetch = await self._step(
                    session, imap_lock, current, recording, prefetch, fetch_next, in_flight, wind_down
                )
                self._next_uid = max(self._next_uid, current[-1].uid + 1)
                if self.stopping or wind_down.is_set():
                    if following is not None and recording is not None:
                        # Finish the batch in hand: it is being recorded already.
                        await self._step(session, imap_lock, following, recording, None, None, in_flight, wind_down)
                        recording = None
                        self._next_uid = max(self._next_uid, following[-1].uid + 1)
                    raise _Stopping
                current = following
        finally:
            for future in in_flight:
                if future is not None and not future.done():
                    future.cancel()
                    with contextlib.suppress(BaseException):
                        await future
            await batches.aclose()

    async def _step(
        self,
        session: ImapSession,
        imap_lock: asyncio.Lock,
        current: Sequence[ImapMessage],
        recording: asyncio.Future[Sequence[Handled]],
        prefetch: asyncio.Future[list[ImapMessage] | None] | None,
        fetch_next: Callable[[], Awaitable[list[ImapMessage] | None]] | None,
        in_flight: list[asyncio.Future[Any]],
        wind_down: asyncio.Event,
    ) -> tuple[
        list[ImapMessage] | None,
        asyncio.Future[Sequence[Handled]] | None,
        asyncio.Future[list[ImapMessage] | None] | None,
    ]:
        """Dispose of ``current`` once recorded; meanwhile record the prefetched batch and
        fetch the one after it (queued on the connection behind this batch's MOVE).

        Returns the next batch (None at the end), the future of its recording and the
        future of the fetch after it.
        """
        handled = await recording
        following = await prefetch if prefetch is not None else None
        selected = self._require()[1]
        next_recording = None
        if following is not None and not (self.stopping or wind_down.is_set()):
            next_recording = asyncio.ensure_future(self._record(selected, following))
            in_flight.append(next_recording)
        next_prefetch = None
        if next_recording is not None and fetch_next is not None:
            next_prefetch = asyncio.ensure_future(fetch_next())  # runs once the MOVE below frees the connection
            in_flight.append(next_prefetch)
        async with imap_lock:
            await self._dispose(session, [(m.uid, h.disposition) for m, h in zip(current, handled, strict=True)])
        await self.pipeline.acknowledged(self.account.name, self.folder, [h.inbound_id for h in handled])
        self._set(processed=self._status.processed + len(current))
        if following is not None and next_recording is None:
            following = None  # stopping: the prefetched batch is left for the next start
        return following, next_recording, next_prefetch

    async def _batches(self, session: ImapSession, uids: Sequence[int]) -> AsyncGenerator[list[ImapMessage], None]:
        """Batches of fetched messages, bounded by count and by bytes, oldest first."""
        size, limit, cap = self.options.batch_size, self.options.batch_bytes, self.account.max_message_bytes
        # aioimaplib's FETCH parsing is quadratic in the number of response lines, so the
        # size/date FETCH covers one batch's worth of UIDs, not more.
        window_size = size
        for start in range(0, len(uids), window_size):
            window = uids[start : start + window_size]
            info = await session.fetch_info(window)
            batch: list[int] = []
            total = 0
            for uid in window:
                if uid not in info:
                    continue  # expunged meanwhile
                weight = min(info[uid].size, cap)  # an oversized message is fetched as its header only
                if batch and (len(batch) >= size or total + weight > limit):
                    messages = await session.fetch_messages(batch, cap, info=info)
                    if messages:
                        yield messages
                    batch, total = [], 0
                batch.append(uid)
                total += weight
            if batch:
                messages = await session.fetch_messages(batch, cap, info=info)
                if messages:
                    yield messages

    async def _record(self, selected: SelectedFolder, messages: Sequence[ImapMessage]) -> Sequence[Handled]:
        """Analyse and record a batch (one commit, with the checkpoint); nothing is disposed yet."""
        batch = [
            FetchedMessage(
                tenant=self.account.tenant,
                account=self.account.name,
                folder=self.folder,
                uid=m.uid,
                uidvalidity=selected.uidvalidity,
                name=str(m.uid),
                raw=m.raw,
                size=m.size,
                truncated=m.truncated,
                received_at=m.internaldate,
            )
            for m in messages
        ]
        for message in batch:
            if message.truncated:
                self.log.warning(
                    "imap_message_too_large",
                    uid=message.uid,
                    size=message.size,
                    max_message_bytes=self.account.max_message_bytes,
                )
        handled: Sequence[Handled] = await self.pipeline.handle(batch)
        if len(handled) != len(batch):
            raise RuntimeError(f"the pipeline returned {len(handled)} results for {len(batch)} messages")
        return handled

    # --- dispositions -------------------------------------------------------------------

    async def _dispose(self, session: ImapSession, items: Sequence[tuple[int, str]]) -> None:
        """Apply dispositions; ``keep`` and ``none`` leave a message exactly as it was."""
        by_kind: dict[str, list[int]] = {}
        for uid, disposition in items:
            by_kind.setdefault(disposition, []).append(uid)
        # Bounded commands: many scattered UIDs (pending dispositions after an outage) would
        # otherwise make a command line longer than servers accept.
        step = _MAX_UIDS_PER_COMMAND
        for start in range(0, len(by_kind.get("seen", ())), step):
            await session.add_flags(by_kind["seen"][start : start + step], "\\Seen")
        for start in range(0, len(by_kind.get("delete", ())), step):
            await session.delete(by_kind["delete"][start : start + step])
        for start in range(0, len(by_kind.get("move", ())), step):
            await self._move(session, by_kind["move"][start : start + step])

    async def _move(self, session: ImapSession, uids: list[int]) -> None:
        destination = await self._processed_destination(session)
        try:
            await session.move(uids, destination)
        except ImapProtocolError as exc:
            if "TRYCREATE" not in str(exc).upper():
                raise
            # The processed folder was deleted since we created it: create it again.
            await session.create_folder(destination)
            await session.move(uids, destination)

    async def _processed_destination(self, session: ImapSession) -> str:
        if self._processed_folder is None:
            spec = self.account.processed_folder
            if spec.startswith("\\"):
                self._processed_folder = await session.resolve_folder(spec)
            else:
                await session.create_folder(spec)  # once per watcher; "already exists" is fine
                self._processed_folder = spec
                self.log.debug("imap_processed_folder_ready", name=spec)
        _, selected = self._require()
        if self._processed_folder == selected.name:
            # Moving into the watched folder would hand every message back as new, forever.
            raise DispositionError(
                f"processed_folder '{self.account.processed_folder}' is the watched folder itself; choose another"
            )
        return self._processed_folder

    # --- waiting for news ---------------------------------------------------------------

    async def _watch(self) -> None:
        session, _ = self._require()
        use_idle = self.options.use_idle and session.has("IDLE")
        while not self.stopping:
            if use_idle:
                self._set(state="idle")
                pushed = await session.idle(self.options.idle_seconds, wake=self._wake)
                if self.stopping:
                    return
                if pushed:
                    self.log.debug("imap_idle_news", lines=len(pushed))
            else:
                self._set(state="polling")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.account.poll_interval)
                if self.stopping:
                    return
                await session.noop()  # keeps the connection alive and lets the server report news
            self._wake.clear()
            # Dispositions released since the last look (a finished forward, another process):
            # one cheap query per cycle.
            await self._reapply_pending(session, self._require()[1])
            # Whether the server reported EXISTS or IDLE simply timed out, look: a UID SEARCH
            # is cheap and also catches news the server did not push.
            await self._fetch_new()
            await self.pipeline.folder_ok(self.account.name, self.folder)
            self._set(last_ok=_now(), last_error=None)

    def _require(self) -> tuple[ImapSession, SelectedFolder]:
        if self._session is None or self._selected is None:
            raise RuntimeError("no folder selected")
        return self._session, self._selected
