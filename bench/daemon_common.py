"""Shared by the daemon benchmarks: private servers from tests/servers.py, a PostgreSQL database,
and a backlog of realistic DSNs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "daemon"))

from daemon_helpers import dsn  # noqa: E402
from servers import Dovecot, MailUser, Postfix, make_tls_files, make_workdir  # noqa: E402

ADMIN = os.environ.get("BOUNCER_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def mail_servers(with_postfix: bool = False) -> Iterator[tuple[Dovecot, Postfix | None]]:
    root = make_workdir("bouncer-bench-")
    dovecot_root = root / "dovecot"
    dovecot_root.mkdir(mode=0o755)
    dovecot = Dovecot(dovecot_root, make_tls_files(root / "tls"))
    dovecot.start()
    postfix: Postfix | None = None
    try:
        if with_postfix:
            postfix_root = root / "postfix"
            postfix_root.mkdir(mode=0o755)
            postfix = Postfix(postfix_root, dovecot.lmtp_port)
            postfix.start()
        yield dovecot, postfix
    finally:
        if postfix is not None:
            postfix.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh database on the system PostgreSQL; yields its SQLAlchemy URL."""
    name = f"bouncer_bench_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(dovecot: Dovecot, user: MailUser, count: int, prefix: str = "e0e0e0e0") -> None:
    for i in range(count):
        dovecot.drop_into_maildir(user, dsn(f"user{i}@example.org", f"{prefix}-0000-4000-8000-{i:012d}"))


def imap_settings(dovecot: Dovecot, user: MailUser) -> dict[str, Any]:
    return {
        "host": dovecot.tls_host,
        "port": dovecot.imaps_port,
        "security": "tls",
        "username": user.address,
        "password": user.password,
        "ca_file": str(dovecot.ca_file),
        "timeout": 60,
    }


def client_tls(dovecot: Dovecot) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(dovecot.ca_file))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 1024 / 1024


__all__ = ["asyncio"]
