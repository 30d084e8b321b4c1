"""`bouncer run`: wires sources, analysis, store and disposition together.

One watcher task per (account, folder), all in one TaskGroup. A watcher never lets an
exception out (it logs, backs off and retries), so one account's trouble never stops the
daemon or another account.

Lifecycle:
- SIGTERM/SIGINT: every watcher is told to stop after the batch in hand (recorded,
  disposed, acknowledged); whatever has not stopped after ``STOP_GRACE`` seconds is
  cancelled, which is harmless (an uncommitted batch is fetched again next time).
- SIGHUP: the configuration file is read again; a broken file is logged and ignored.
  Only the watchers whose account settings changed are restarted; added folders get a
  watcher, removed ones lose theirs.
- Beside the watchers, the TaskGroup runs the :class:`~bouncer.forwarder.Forwarder` (people's
  mail to ``forward_other_to``; it nudges a folder's watcher when a forward finished, so the
  message is disposed of at once) and, with ``alerts:``, the alert mails' ticker.
- systemd: READY=1, RELOADING=1, STOPPING=1 go to $NOTIFY_SOCKET when it is set.

Schema: on PostgreSQL `bouncer run` refuses a database whose schema is behind or ahead of
the code (the sentence says to run `bouncer db upgrade`); migrating a shared reporting
database is the operator's decision. A SQLite database is this process's own file, so it
is created or upgraded on start: that is what lets the quickstart run on a fresh machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from bouncer.alerts import FolderAlerts, alerts_for
from bouncer.analysis import PARSER_VERSION, analyse, engine_build
from bouncer.config import AccountConfig, Config, DatabaseConfig, load_config
from bouncer.errors import BouncerError, ConfigError
from bouncer.forwarder import Forwarder, warn_stuck_forwards
from bouncer.logs import configure_logging, get_logger
from bouncer.pipeline import AccountPipeline, Analyser, PipelineCore, RecordStore
from bouncer.store import Store
from bouncer.store.migrate import upgrade
from bouncer.store.store import utcnow

__all__ = ["ImapWatcher", "Supervisor", "Watcher", "WatcherFactory", "make_watcher", "run_daemon", "sd_notify", "serve"]

# SIGTERM to exit within 10 s: a watcher gets STOP_GRACE seconds to finish its batch, then it
# is cancelled and the IMAP watcher gives the batch in hand IMAP_CANCEL_GRACE more.
STOP_GRACE = 6.0
IMAP_CANCEL_GRACE = 2.0
ONCE_CONCURRENCY = 32  # folders drained at the same time by --once
RESTART_FIRST, RESTART_MAX = 1.0, 300.0

FolderKey = tuple[str, str]  # (account, folder)

# asyncio gives every TLS connection a 256 KiB read buffer (SSLProtocol.max_size), touched
# and so resident: 125 MB for 500 idle IMAP connections. TLS records are at most 16 KiB,
# so 32 KiB loses nothing measurable on big fetches (bench/daemon_imap_drain.py).
TLS_READ_BUFFER = 32 * 1024


def _small_tls_read_buffers() -> None:
    import asyncio.sslproto

    if getattr(asyncio.sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
        asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


class Watcher(Protocol):
    """One (account, folder): the Maildir and IMAP watchers both have this shape."""

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set: connect, catch up, wait for mail, retry on failure."""
        ...

    async def drain(self) -> int:
        """Process what is in the folder now and return how many messages it handled.

        Raises when the folder cannot be read; the exception's text is the sentence shown.
        """
        ...


WatcherFactory = Callable[[AccountConfig, str, AccountPipeline], Watcher]


class ImapWatcher:
    """The IMAP :class:`~bouncer.sources.imap.watcher.FolderWatcher` in the daemon's Watcher shape."""

    def __init__(self, account: AccountConfig, folder: str, pipeline: AccountPipeline) -> None:
        from bouncer.sources.imap.watcher import FolderWatcher, WatcherOptions

        self.watcher = FolderWatcher(account, folder, pipeline, options=WatcherOptions(stop_grace=IMAP_CANCEL_GRACE))

    async def run(self, stop: asyncio.Event) -> None:
        async def relay_stop() -> None:
            await stop.wait()
            self.watcher.request_stop()  # finishes the batch in hand, logs out

        relay = asyncio.create_task(relay_stop())
        try:
            await self.watcher.run()
        finally:
            relay.cancel()

    async def drain(self) -> int:
        await self.watcher.run_once()
        return self.watcher.status.processed

    def nudge(self) -> None:
        self.watcher.nudge()


def make_watcher(account: AccountConfig, folder: str, pipeline: AccountPipeline) -> Watcher:
    if account.maildir is not None:
        from bouncer.sources.maildir import MaildirWatcher

        return MaildirWatcher(account, folder, pipeline)
    return ImapWatcher(account, folder, pipeline)


# --- systemd ---------------------------------------------------------------------------


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) about the service state; nothing when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        get_logger().warning("sd_notify_failed", error=str(exc))


def _monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


# --- store -------------------------------------------------------------------------------


async def open_store(database: DatabaseConfig, config_path: Path) -> Store:
    """Open the store; refuse a PostgreSQL schema that is not this version's.

    SQLite is created or upgraded first: it is this process's own file (see the module doc).
    """
    if database.kind == "sqlite":
        await upgrade(database)
    return await Store.open(database, config_path=config_path)


# --- the daemon --------------------------------------------------------------------------


def _folders(config: Config) -> dict[FolderKey, AccountConfig]:
    return {(account.name, folder): account for account in config.accounts for folder in account.folders}


@dataclass
class _Running:
    account: AccountConfig
    stop: asyncio.Event
    task: asyncio.Task[None]


@dataclass
class Supervisor:
    """Runs the watchers until told to stop; reloads the configuration on SIGHUP."""

    config: Config
    config_path: Path
    core: PipelineCore
    factory: WatcherFactory = make_watcher
    forwarder: Forwarder | None = None
    watchers: dict[FolderKey, _Running] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._live: dict[FolderKey, Watcher] = {}  # the watcher objects, for nudge()
        self._background: list[asyncio.Task[None]] = []  # forwarder, alerts: stopped at the end
        self._forwarder_task: asyncio.Task[None] | None = None
        self._alerts_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stop_requested = False
        self._reload_requested = False
        self._task_group: asyncio.TaskGroup | None = None
        self._log = get_logger()

    # signal handlers: they only set flags; the main loop does the work
    def request_stop(self) -> None:
        self._stop_requested = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    def nudge(self, account: str, folder: str) -> None:
        """A forward finished: the folder's watcher applies the released disposition now."""
        nudge = getattr(self._live.get((account, folder)), "nudge", None)
        if nudge is not None:
            nudge()

    def _start_alerts(self, alerts: FolderAlerts | None) -> None:
        assert self._task_group is not None
        if self._alerts_task is not None:
            self._alerts_task.cancel()
            self._alerts_task = None
        self.core.alerts = alerts
        if alerts is not None:
            # Ticks often enough that a short ``after`` is honoured, at most every 30 s.
            interval = max(0.5, min(30.0, alerts.config.after / 4))
            self._alerts_task = self._task_group.create_task(alerts.run(interval), name="alerts")
            self._background.append(self._alerts_task)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        handled_signals = {signal.SIGTERM: self.request_stop, signal.SIGINT: self.request_stop}
        handled_signals[signal.SIGHUP] = self.request_reload
        for signum, handler in handled_signals.items():
            loop.add_signal_handler(signum, handler)
        try:
            async with asyncio.TaskGroup() as task_group:
                self._task_group = task_group
                if self.forwarder is not None:
                    self.forwarder.on_forwarded = self.nudge
                    self.core.forwards_recorded = self.forwarder.wake
                    self._forwarder_task = task_group.create_task(self.forwarder.run(), name="forwarder")
                    self._background.append(self._forwarder_task)
                self._start_alerts(alerts_for(self.config))
                for key, account in _folders(self.config).items():
                    self._start(key, account)
                self._log.info(
                    "daemon_started",
                    folders=len(self.watchers),
                    accounts=len(self.config.accounts),
                    parser_version=PARSER_VERSION,
                    analysis_engine=engine_build(),
                )
                sd_notify(f"READY=1\nSTATUS=watching {len(self.watchers)} folders")
                while not self._stop_requested:
                    await self._wake.wait()
                    self._wake.clear()
                    if self._reload_requested and not self._stop_requested:
                        self._reload_requested = False
                        await self.reload()
                sd_notify("STOPPING=1")
                self._log.info("daemon_stopping", folders=len(self.watchers))
                if self.forwarder is not None:
                    self.forwarder.request_stop()  # finishes the forward in hand meanwhile
                await self._stop(list(self.watchers))
                if self._forwarder_task is not None:
                    # One cancelled mid-send stays claimed (in doubt, never resent).
                    await asyncio.wait([self._forwarder_task], timeout=IMAP_CANCEL_GRACE)
                for task in self._background:
                    task.cancel()
        finally:
            for signum in handled_signals:
                loop.remove_signal_handler(signum)
        self._log.info("daemon_stopped")
        return 0

    def _start(self, key: FolderKey, account: AccountConfig) -> None:
        assert self._task_group is not None
        stop = asyncio.Event()
        task = self._task_group.create_task(self._watch(key, account, stop), name=f"watch {key[0]}/{key[1]}")
        self.watchers[key] = _Running(account, stop, task)

    async def _stop(self, keys: Sequence[FolderKey]) -> None:
        running = [self.watchers.pop(key) for key in keys if key in self.watchers]
        for item in running:
            item.stop.set()
        tasks = [item.task for item in running]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in late:  # harmless: an uncommitted batch is fetched again next time
            self._log.warning("watcher_cancelled", watcher=task.get_name(), after_seconds=STOP_GRACE)
            task.cancel()
        if late:
            await asyncio.wait(late)

    async def _watch(self, key: FolderKey, account: AccountConfig, stop: asyncio.Event) -> None:
        """Run one watcher; should it ever crash, start it again after a backoff."""
        structlog.contextvars.bind_contextvars(account=key[0], folder=key[1])
        log = get_logger()
        crashes = 0
        while not stop.is_set():
            try:
                watcher = self.factory(account, key[1], self.core.for_account(account))
                self._live[key] = watcher
                await watcher.run(stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                crashes += 1
                delay = min(RESTART_MAX, RESTART_FIRST * 2 ** (crashes - 1)) * random.uniform(0.5, 1.0)
                message = str(exc) if isinstance(exc, BouncerError) else f"{type(exc).__name__}: {exc}"
                unexpected = not isinstance(exc, BouncerError)
                log.error("watcher_failed", error=message, restart_in=round(delay, 1), exc_info=unexpected)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            finally:
                # A reload stops a folder's old watcher before it starts the new one.
                self._live.pop(key, None)

    async def reload(self) -> None:
        sd_notify(f"RELOADING=1\nMONOTONIC_USEC={_monotonic_usec()}")
        try:
            new = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as exc:
            self._log.error("reload_failed", problems=exc.problems, action="keeping the running configuration")
            sd_notify("READY=1")
            return
        if new.database != self.config.database:
            self._log.warning("reload_database_ignored", reason="a database change needs a restart")
        if new.logging != self.config.logging:
            configure_logging(new.logging.format, new.logging.level)
        self.core.reconfigure(new)
        if self.forwarder is not None:
            self.forwarder.reconfigure(new)
        if new.alerts != self.config.alerts or new.smtp.get("system") != self.config.smtp.get("system"):
            self._start_alerts(alerts_for(new))  # what it knew of failing folders starts afresh
        desired = _folders(new)
        changed = [key for key, item in self.watchers.items() if desired.get(key) != item.account]
        await self._stop(changed)
        if self.core.alerts is not None:
            for account_name, folder in changed:
                if (account_name, folder) not in desired:  # no longer watched: nothing left to alert about
                    self.core.alerts.ok(account_name, folder)
        started = [key for key in desired if key not in self.watchers]
        for key in started:
            self._start(key, desired[key])
        self.config = new
        self._log.info(
            "reloaded",
            stopped=[f"{a}/{f}" for a, f in changed if (a, f) not in desired],
            restarted=[f"{a}/{f}" for a, f in changed if (a, f) in desired],
            started=[f"{a}/{f}" for a, f in started if (a, f) not in changed],
            watching=len(self.watchers),
        )
        sd_notify(f"READY=1\nSTATUS=watching {len(self.watchers)} folders")


async def drain_all(config: Config, core: PipelineCore, factory: WatcherFactory = make_watcher) -> int:
    """`--once`: process what is in every folder now. Raises BouncerError naming the folders that failed."""
    failures: list[str] = []
    total = 0
    limit = asyncio.Semaphore(ONCE_CONCURRENCY)

    async def drain(key: FolderKey, account: AccountConfig) -> None:
        nonlocal total
        structlog.contextvars.bind_contextvars(account=key[0], folder=key[1])
        async with limit:
            try:
                total += await factory(account, key[1], core.for_account(account)).drain()
            except Exception as exc:
                message = str(exc) if isinstance(exc, BouncerError) else f"{type(exc).__name__}: {exc}"
                get_logger().error("folder_failed", error=message)
                failures.append(f"{key[0]}/{key[1]}: {message}")

    folders = _folders(config)
    async with asyncio.TaskGroup() as task_group:
        for key, account in folders.items():
            task_group.create_task(drain(key, account))
    get_logger().info("once_done", messages=total, folders=len(folders), failed=len(failures))
    if failures:
        raise BouncerError(f"could not read {len(failures)} of {len(folders)} folders: " + "; ".join(sorted(failures)))
    return total


async def _once(config: Config, core: PipelineCore, factory: WatcherFactory) -> int:
    """--once, interruptible: SIGTERM/SIGINT abandon the batches in hand (nothing of them is
    committed, so nothing is lost) and exit 0."""
    loop = asyncio.get_running_loop()
    work = asyncio.ensure_future(drain_all(config, core, factory))
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        work.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, interrupt)
    try:
        await work
    except asyncio.CancelledError:
        if not interrupted:
            raise
        get_logger().warning("once_interrupted", action="what was not recorded is processed next time")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0


async def serve(
    config: Config,
    config_path: Path,
    store: RecordStore,
    *,
    once: bool = False,
    factory: WatcherFactory = make_watcher,
    analyser: Analyser = analyse,
) -> int:
    """Run on an open store (the store stays open; the caller closes it)."""
    _small_tls_read_buffers()
    core = PipelineCore(store, config, analyser=analyser)
    try:
        if once:
            result = await _once(config, core, factory)
            if isinstance(store, Store) and any(a.forward_other_to for a in config.accounts):
                # People's mail recorded just now: forward it, then one more pass disposes of
                # what was forwarded (its disposition was held back until then).
                once_forwarder = Forwarder(store, config)
                await once_forwarder.forward_pending()
                if once_forwarder.forwarded:
                    result = await _once(config, core, factory)
            return result
        forwarder: Forwarder | None = None
        if isinstance(store, Store):
            # Claimed by an earlier process and never finished: maybe sent, so never resent.
            await warn_stuck_forwards(await store.stuck_forwards(started_before=utcnow()))
            forwarder = Forwarder(store, config)
        return await Supervisor(config, config_path, core, factory, forwarder).run()
    finally:
        core.close()


async def run_daemon(config: Config, config_path: Path, *, once: bool = False) -> int:
    store = await open_store(config.database, config_path)
    try:
        return await serve(config, config_path, store, once=once)
    finally:
        await store.close()
