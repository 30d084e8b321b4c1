"""Where the wall time of benchmark (a) goes: one instrumented inline drain.

Wraps the steps of the daemon path with wall-clock timers (fetch, analysis, record,
MOVE, acknowledge, checkpoint) and reports each step's total, and, with ``--cprofile``,
the CPU profile of the whole drain. Steps overlap (the next batch is fetched while the
current one is analysed and recorded), so the totals can add up to more than the wall time.

    .venv/bin/python bench/daemon_imap_drain_profile.py [COUNT] [--cprofile] [--batch N]
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from daemon_common import fill, mail_servers, pg_database
from daemon_imap_drain import bare_fetch, drain
from sqlalchemy.ext.asyncio import AsyncConnection

from bouncer.logs import configure_logging
from bouncer.pipeline import PipelineCore
from bouncer.sources.imap import watcher as watcher_module
from bouncer.sources.imap.connection import ImapSession
from bouncer.store import Store
from bouncer.store import store as store_module

TOTALS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            TOTALS[label] += time.perf_counter() - start
            CALLS[label] += 1

    setattr(owner, name, wrapper)


def timed_sync(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            TOTALS[label] += time.perf_counter() - start
            CALLS[label] += 1

    setattr(owner, name, wrapper)


def instrument() -> None:
    timed(ImapSession, "search_uids", "imap: UID SEARCH")
    timed(ImapSession, "fetch_info", "imap: FETCH size/date")
    timed(ImapSession, "fetch_messages", "imap: FETCH BODY.PEEK[]")
    timed(ImapSession, "move", "imap: UID MOVE")
    timed(PipelineCore, "analyse_batch", "analysis")
    timed(Store, "record", "store: record (commit incl.)")
    timed(Store, "mark_disposed", "store: mark_disposed")
    timed(Store, "checkpoint", "store: checkpoint read")
    timed(Store, "folder_ok", "store: folder_ok")
    # Inside record and mark_disposed: the statements (SQLAlchemy building them, asyncpg,
    # PostgreSQL executing); the rest of those two is checkout (with its pre-ping), BEGIN, COMMIT.
    timed(AsyncConnection, "execute", "sql: execute (record+ack)")
    timed_sync(store_module, "message_row", "store: building message rows")
    timed_sync(store_module, "failure_rows", "store: building failure rows")


async def main() -> None:
    configure_logging("json", "warning")
    args = sys.argv[1:]
    profile = "--cprofile" in args
    if "--batch" in args:
        size = int(args[args.index("--batch") + 1])
        defaults = watcher_module.WatcherOptions.__init__.__defaults__
        assert defaults is not None
        watcher_module.WatcherOptions.__init__.__defaults__ = (size, *defaults[1:])
    numbers = [a for a in args if a.isdigit() and (args.index(a) == 0 or args[args.index(a) - 1] != "--batch")]
    count = int(numbers[0]) if numbers else 10_000
    instrument()
    with mail_servers() as (dovecot, _):
        user = dovecot.add_user()
        fill(dovecot, user, count)
        await bare_fetch(dovecot, user, None)  # Dovecot indexes the folder on its first SELECT
        async with pg_database() as url:
            TOTALS.clear()
            CALLS.clear()
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profiler.enable()
            start = time.perf_counter()
            rate, done = await drain(dovecot, user, url, pool=False)
            wall = time.perf_counter() - start
            if profiler:
                profiler.disable()
    print(f"drained {done} messages in {wall:.2f} s: {rate:.0f} msg/s")
    for label, total in sorted(TOTALS.items(), key=lambda kv: -kv[1]):
        print(f"  {label:32s} {total:7.2f} s  {1000 * total / done:6.3f} ms/msg  ({CALLS[label]} calls)")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main())
