"""Drain a Maildir backlog into PostgreSQL with `bouncer run --once`; print messages/s.

This is the daemon's whole path (read, analyse, record, move) without a network server in
between: the figure the IMAP drain (bench/daemon_imap_drain.py) is compared with.

    BOUNCER_TEST_PG_ADMIN=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/daemon_maildir.py [COUNT]
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "daemon"))
from daemon_helpers import deliver, dsn, make_maildir

ADMIN = os.environ.get("BOUNCER_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    name = f"bouncer_bench_{secrets.token_hex(4)}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inbox = make_maildir(Path(tmp) / "inbox")
            for i in range(count):
                deliver(inbox, dsn(f"user{i}@example.org", f"f0f0f0f0-0000-4000-8000-{i:012d}"))
            config = Path(tmp) / "bouncer.yaml"
            config.write_text(
                f"database: {{url: '{base}/{name}', store_raw: true}}\nlogging: {{level: warning}}\n"
                f"accounts:\n  - {{name: bench, tenant: bench, maildir: '{inbox}'}}\n"
            )
            run = [sys.executable, "-m", "bouncer"]
            subprocess.run([*run, "db", "upgrade", "-c", str(config)], check=True, capture_output=True)
            start = time.perf_counter()
            subprocess.run([*run, "run", "--once", "-c", str(config)], check=True)
            elapsed = time.perf_counter() - start
            left = len(list((inbox / "new").iterdir()))
        print(f"maildir drain: {count} messages in {elapsed:.1f} s = {count / elapsed:.0f} messages/s ({left} left)")
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
