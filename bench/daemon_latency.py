"""(c) Latency from SMTP acceptance to the committed row, over 200 bounces.

Campaign mails (tracker keys, as the CRM builds them) go through a private Postfix to
addresses that do not exist; Postfix writes real DSNs into the bounce mailbox on a private
Dovecot; the running daemon (IDLE) records them in PostgreSQL. For each one: the row's
``processed_at`` minus the moment the SMTP server accepted the campaign mail.

    .venv/bin/python bench/daemon_latency.py [COUNT] [PER_SECOND]
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

from daemon_common import imap_settings, mail_servers, percentile, pg_database
from servers import send_campaign_mail_async
from sqlalchemy import text

from bouncer.config import AccountConfig, Config, DatabaseConfig
from bouncer.daemon import serve
from bouncer.logs import configure_logging
from bouncer.store import Store
from bouncer.store.migrate import upgrade


async def main() -> None:
    configure_logging("json", "warning")
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    per_second = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    with mail_servers(with_postfix=True) as (dovecot, postfix):
        assert postfix is not None
        user = dovecot.add_user()
        async with pg_database() as url:
            database = DatabaseConfig(url=url)
            await upgrade(database)
            store = await Store.open(database)
            account = AccountConfig.model_validate(
                {"name": "bounces", "tenant": "bench", "imap": imap_settings(dovecot, user)}
            )
            daemon = asyncio.create_task(serve(Config(database=database, accounts=(account,)), Path("x"), store))
            await asyncio.sleep(2)  # connected and idling
            accepted: dict[str, datetime] = {}
            run = os.urandom(4).hex()
            for i in range(count):
                key = f"{run}-0000-4000-8000-{i:012d}"
                await send_campaign_mail_async(
                    postfix.smtp_port, postfix.address(f"nobody{i}-{run}"), key, user.address
                )
                accepted[key] = datetime.now(UTC)
                await asyncio.sleep(1 / per_second)

            async def committed() -> dict[str, datetime]:
                async with store.engine.connect() as connection:
                    rows = await connection.execute(text("select tracker_key, processed_at from inbound_messages"))
                    return {row.tracker_key: row.processed_at for row in rows if row.tracker_key in accepted}

            for _ in range(240):  # up to 2 minutes
                rows = await committed()
                if len(rows) >= count:
                    break
                await asyncio.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)
            await daemon
            await store.close()
    delays = [(rows[key] - accepted[key]).total_seconds() for key in rows]
    print(
        f"{len(delays)} of {count} bounces ({per_second:g} campaign mails/s): SMTP acceptance to committed row "
        f"median {statistics.median(delays):.2f} s, p95 {percentile(delays, 0.95):.2f} s, max {max(delays):.2f} s"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main())
