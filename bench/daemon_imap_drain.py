"""(a) Drain a 10,000-message backlog from Dovecot into PostgreSQL; compare with a bare fetch.

Prints messages/s of the daemon's whole path (fetch, analyse, record, MOVE, acknowledge) next
to the ceiling: a bare aioimaplib ``UID FETCH ... BODY.PEEK[]`` of the same folder, both in
the watcher's batches (``WatcherOptions().batch_size`` UIDs) and as one ``1:*`` fetch. Needs root (or the test user),
Dovecot and the system PostgreSQL, as the tests do.

    .venv/bin/python bench/daemon_imap_drain.py [COUNT]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aioimaplib
from daemon_common import client_tls, fill, imap_settings, mail_servers, pg_database
from servers import Dovecot, MailUser

from bouncer.config import AccountConfig, Config, DatabaseConfig
from bouncer.daemon import drain_all
from bouncer.logs import configure_logging
from bouncer.pipeline import PipelineCore
from bouncer.sources.imap.watcher import WatcherOptions
from bouncer.store import Store
from bouncer.store.migrate import upgrade

BATCH = WatcherOptions().batch_size


async def bare_fetch(dovecot: Dovecot, user: MailUser, batch: int | None) -> float:
    client = aioimaplib.IMAP4_SSL(dovecot.tls_host, dovecot.imaps_port, ssl_context=client_tls(dovecot), timeout=300)
    await client.wait_hello_from_server()
    await client.login(user.address, user.password)
    response = await client.select("INBOX")
    exists = next(int(bytes(line).split()[0]) for line in response.lines if b"EXISTS" in bytes(line))
    search = await client.uid_search("ALL")
    uids = [int(x) for x in search.lines[0].split()]
    start = time.perf_counter()
    fetched = 0
    ranges = (
        [f"{uids[0]}:{uids[-1]}"]
        if batch is None
        else [f"{uids[i]}:{uids[min(i + batch, len(uids)) - 1]}" for i in range(0, len(uids), batch)]
    )
    for uid_range in ranges:
        response = await client.uid("fetch", uid_range, "(BODY.PEEK[])")
        fetched += sum(1 for line in response.lines if isinstance(line, bytearray))
    elapsed = time.perf_counter() - start
    await client.logout()
    assert fetched == exists == len(uids), (fetched, exists, len(uids))
    return fetched / elapsed


async def drain(dovecot: Dovecot, user: MailUser, url: str, *, pool: bool) -> tuple[float, int]:
    database = DatabaseConfig(url=url)
    await upgrade(database)
    store = await Store.open(database)
    account = AccountConfig.model_validate(
        {"name": user.address.split("@")[0], "tenant": "bench", "imap": imap_settings(dovecot, user)}
    )
    config = Config(database=database, accounts=(account,))
    core = PipelineCore(store, config, pool_workers=2 if pool else 0)
    try:
        start = time.perf_counter()
        count = await drain_all(config, core)
        elapsed = time.perf_counter() - start
    finally:
        core.close()
        await store.close()
    return count / elapsed, count


async def analysis_alone(dovecot: Dovecot, user: MailUser, count: int, workers: int) -> float:
    """The same messages through the analysis only (a pool of ``workers``, or inline for 0):
    the other bound on the drain."""
    raws = [path.read_bytes() for path in sorted((user.maildir / "cur").iterdir())[:count]]
    core = PipelineCore(None, Config(), pool_workers=workers)  # type: ignore[arg-type]  # analysis is all this uses
    try:
        await core.analyse_batch(raws[:BATCH])  # start the workers
        start = time.perf_counter()
        for i in range(0, len(raws), BATCH):
            await core.analyse_batch(raws[i : i + BATCH])
        return len(raws) / (time.perf_counter() - start)
    finally:
        core.close()


async def main() -> None:
    configure_logging("json", "warning")
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with mail_servers() as (dovecot, _):
        users = [dovecot.add_user() for _ in range(2)]
        for user in users:
            fill(dovecot, user, count)
        # Dovecot indexes a folder on its first SELECT; do it before timing anything.
        for user in users:
            await bare_fetch(dovecot, user, None)
        batched = max([await bare_fetch(dovecot, users[0], BATCH) for _ in range(2)])
        whole = max([await bare_fetch(dovecot, users[0], None) for _ in range(2)])
        ceiling = max(batched, whole)
        pooled = await analysis_alone(dovecot, users[1], count, 2)
        inline = await analysis_alone(dovecot, users[1], count, 0)
        print(
            f"bare aioimaplib UID FETCH BODY.PEEK[]: {batched:.0f} msg/s in batches of {BATCH}, "
            f"{whole:.0f} msg/s as 1:*"
        )
        print(f"analysis alone, batches of {BATCH}: {pooled:.0f} msg/s in a pool of 2, {inline:.0f} msg/s inline")
        for user, pool in ((users[0], True), (users[1], False)):
            async with pg_database() as url:
                rate, done = await drain(dovecot, user, url, pool=pool)
            label = "analysis in a pool of 2 processes" if pool else "analysis inline (the default below 3 cores)"
            print(f"daemon drain ({label}): {done} messages, {rate:.0f} msg/s = {100 * rate / ceiling:.0f}% of ceiling")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main())
