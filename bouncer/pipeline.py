"""The daemon's side of every watcher: analyse a fetched batch, decide its disposition, record it.

One :class:`PipelineCore` serves the whole process (one store, one analysis executor);
each watcher gets an :class:`AccountPipeline`, a view bound to its account's settings, so
a configuration reload that changes an account cannot change the rules under a batch that
its old watcher has in hand.

Analysis is pure CPU. Small batches (the steady state: one or two messages after an IDLE
push) are analysed inline, which costs less than shipping them to another process. Big
batches (a backlog) go to a process pool when the machine has cores to spare (3 or more:
one stays with the event loop); otherwise they are analysed on the loop in short slices,
so the other watchers keep their turn (see :func:`default_pool_workers` for the figures).
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Protocol

from bouncer.analysis import PARSER_VERSION, AnalysisOptions, analyse
from bouncer.analysis.result import Analysis
from bouncer.analysis.taxonomy import Kind
from bouncer.config import AccountConfig, Config
from bouncer.forward import should_forward
from bouncer.logs import get_logger
from bouncer.sources.base import Checkpoint, Disposition, FetchedMessage, Handled, PendingDisposition
from bouncer.store import ToRecord

if TYPE_CHECKING:
    from bouncer.alerts import FolderAlerts

__all__ = [
    "AccountPipeline",
    "Analyser",
    "PipelineCore",
    "RecordStore",
    "ToRecord",
    "analysis_options",
    "disposition_for",
]

Analyser = Callable[[bytes, AnalysisOptions], Analysis]

# A batch goes to the process pool when it is at least this big (count or bytes). Below
# that, the round trip to a worker (pickling, a context switch) costs more than the
# analysis itself; see bench/daemon_analysis.py for the figures behind these numbers.
POOL_MIN_MESSAGES = 16
POOL_MIN_BYTES = 512 * 1024
INLINE_SLICE = 16  # messages analysed on the loop between two chances for other tasks to run


class RecordStore(Protocol):
    """What the pipeline needs of :class:`bouncer.store.Store` (a protocol, so tests can
    wrap the real store to make it fail on demand)."""

    async def record(self, items: Sequence[ToRecord]) -> list[Handled]: ...

    async def checkpoint(self, account: str, folder: str) -> Checkpoint | None: ...

    async def pending_dispositions(self, account: str, folder: str) -> list[PendingDisposition]: ...

    async def mark_disposed(self, inbound_ids: Sequence[int]) -> None: ...

    async def folder_ok(self, account: str, folder: str) -> None: ...

    async def folder_failed(self, account: str, folder: str, error: str) -> None: ...


def disposition_for(account: AccountConfig, analysis: Analysis) -> Disposition:
    """The rule: what happens on the server to a message once its record is committed.

    Bounce accounts dispose of failure reports (bounces, delays, complaints); group
    accounts, which people read, only of bounces that a mail system sent (a bounce a
    colleague forwarded there is recorded, but it is their mail). Everything else (people's
    mail, auto-replies, success notices) and anything the analysis could not finish stays
    exactly as it was, flags included.
    """
    if analysis.error is not None or (analysis.forwarded and account.role == "group"):
        return "none"
    applies = analysis.kind.is_failure_report if account.role == "bounce" else analysis.kind is Kind.BOUNCE
    return account.dispose if applies else "none"


def analysis_options(config: Config) -> AnalysisOptions:
    return AnalysisOptions(tracker_patterns=tuple(re.compile(p) for p in config.tracker.patterns))


def _analyse_safely(analyser: Analyser, raw: bytes, options: AnalysisOptions) -> Analysis:
    """``analyse`` promises never to raise; a bug that breaks the promise must not stop a folder."""
    try:
        return analyser(raw, options)
    except Exception as exc:  # the message is recorded with the error and left in place
        return Analysis(kind=Kind.NOT_BOUNCE, error=f"analysis failed: {type(exc).__name__}: {exc}")


def _analyse_many(analyser: Analyser, raws: Sequence[bytes], options: AnalysisOptions) -> list[Analysis]:
    return [_analyse_safely(analyser, raw, options) for raw in raws]


def _exit_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: leave when the daemon is gone.

    A ``kill -9`` of the daemon would otherwise orphan the workers (each holds the write
    end of its own task queue, so it never sees end-of-file).
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _truncated_error(message: FetchedMessage, limit: int) -> str:
    return (
        f"the message is {message.size} bytes, more than max_message_bytes ({limit}); "
        "it was recorded from its header only"
    )


class PipelineCore:
    """Shared by every watcher of the process: the store, the analysis options, the pool."""

    def __init__(
        self,
        store: RecordStore,
        config: Config,
        *,
        analyser: Analyser = analyse,
        pool_workers: int | None = None,
    ) -> None:
        self.store = store
        self.analyser = analyser
        self.options = analysis_options(config)
        self._pool_workers = default_pool_workers() if pool_workers is None else pool_workers
        self._pool: Executor | None = None
        self._log = get_logger()
        # Hooks the daemon sets (bouncer/daemon.py): wake the forwarder after a batch with
        # forwards; feed folder health to the alert mails. Both only record; neither blocks.
        self.forwards_recorded: Callable[[], None] | None = None
        self.alerts: FolderAlerts | None = None

    def reconfigure(self, config: Config) -> None:
        """A reload: new tracker patterns apply to the next batch."""
        self.options = analysis_options(config)

    def for_account(self, account: AccountConfig) -> AccountPipeline:
        return AccountPipeline(self, account)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _executor(self) -> Executor:
        if self._pool is None:
            # spawn, not fork: forking a process that runs an event loop and threads is unsafe.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self._pool_workers,
                mp_context=context,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def analyse_batch(self, raws: Sequence[bytes]) -> list[Analysis]:
        options = self.options
        small = len(raws) < POOL_MIN_MESSAGES and sum(len(r) for r in raws) < POOL_MIN_BYTES
        if small or self._pool_workers < 2:
            return await self._analyse_inline(raws, options)
        # One chunk per worker keeps the pickling overhead to a few round trips per batch.
        size = -(-len(raws) // self._pool_workers)
        chunks = [raws[i : i + size] for i in range(0, len(raws), size)]
        loop = asyncio.get_running_loop()
        try:
            executor = self._executor()
            results = await asyncio.gather(
                *(loop.run_in_executor(executor, _analyse_many, self.analyser, chunk, options) for chunk in chunks)
            )
        except BrokenProcessPool:
            # A worker died (killed from outside, out of memory): start afresh next time,
            # and do this batch in a thread so the loop stays responsive.
            self._log.warning("analysis_pool_broken", action="analysing this batch in a thread")
            self.close()
            return await asyncio.to_thread(_analyse_many, self.analyser, raws, options)
        return [analysis for chunk in results for analysis in chunk]

    async def _analyse_inline(self, raws: Sequence[bytes], options: AnalysisOptions) -> list[Analysis]:
        """On the loop, in slices: between slices the other watchers get their turn, so a
        backlog batch holds the loop for tens of milliseconds, not its whole length."""
        results: list[Analysis] = []
        for start in range(0, len(raws), INLINE_SLICE):
            if start:
                await asyncio.sleep(0)
            results.extend(_analyse_many(self.analyser, raws[start : start + INLINE_SLICE], options))
        return results


def default_pool_workers() -> int:
    """One core stays with the event loop (IMAP, database); the rest may analyse.

    Measured with bench/daemon_imap_drain.py on a 2-core machine shared with other work:
    two analysis processes beside the loop drained 831-1,020 msg/s against 1,151-1,302
    inline (batches overlapped two deep): on 2 cores the pool costs more than it gives.
    Below 3 cores there is no pool (0 workers).
    """
    workers = min(4, (os.cpu_count() or 1) - 1)
    return workers if workers >= 2 else 0


class AccountPipeline:
    """The :class:`bouncer.sources.base.Pipeline` of one account's watchers."""

    def __init__(self, core: PipelineCore, account: AccountConfig) -> None:
        self.core = core
        self.account = account

    async def checkpoint(self, account: str, folder: str) -> Checkpoint | None:
        return await self.core.store.checkpoint(account, folder)

    async def prepare(self, batch: Sequence[FetchedMessage]) -> list[ToRecord]:
        """Analyse the batch and decide each message's disposition (nothing recorded yet)."""
        analyses = await self.core.analyse_batch([m.raw for m in batch])
        items: list[ToRecord] = []
        for message, analysis in zip(batch, analyses, strict=True):
            # Decided on the analysis itself: a person's mail too big to fetch whole is still
            # forwarded (its header, and the cover note says so).
            forward_to = self.account.forward_other_to if should_forward(self.account, analysis) else None
            if message.truncated:
                error = _truncated_error(message, self.account.max_message_bytes)
                analysis = dataclasses.replace(analysis, error=error)
            disposition = disposition_for(self.account, analysis)
            if forward_to is not None and analysis.error is None:
                # Once forwarded it is disposed of like a bounce (the store holds this back
                # until the forward is finished); one fetched as its header only stays.
                disposition = self.account.dispose
            items.append(ToRecord(message, analysis, disposition, PARSER_VERSION, forward_to=forward_to))
        return items

    async def handle(self, batch: Sequence[FetchedMessage]) -> Sequence[Handled]:
        if not batch:
            return []
        items = await self.prepare(batch)
        handled = await self.core.store.record(items)
        if self.core.forwards_recorded is not None and any(item.forward_to for item in items):
            self.core.forwards_recorded()
        log = get_logger(account=self.account.name)
        for item, result in zip(items, handled, strict=True):
            analysis = item.analysis
            log.info(
                "message_recorded",
                folder=item.message.folder,
                message=item.message.name,
                inbound_id=result.inbound_id,
                kind=str(analysis.kind),
                recipients=[r.address for r in analysis.recipients],
                tracker_key=analysis.tracker_key,
                disposition=result.disposition,
                error=analysis.error,
            )
        return handled

    async def pending_dispositions(self, account: str, folder: str) -> Sequence[PendingDisposition]:
        return await self.core.store.pending_dispositions(account, folder)

    async def acknowledged(self, account: str, folder: str, inbound_ids: Sequence[int]) -> None:
        if inbound_ids:
            await self.core.store.mark_disposed(inbound_ids)

    async def folder_ok(self, account: str, folder: str) -> None:
        if self.core.alerts is not None:
            self.core.alerts.ok(account, folder)
        await self.core.store.folder_ok(account, folder)

    async def folder_failed(self, account: str, folder: str, error: str, hint: str | None = None) -> None:
        if self.core.alerts is not None:  # first: the store may be what is failing
            self.core.alerts.failed(account, folder, error, hint)
        await self.core.store.folder_failed(account, folder, error)
