"""Shared fixtures: real PostgreSQL databases, created per test session and dropped after.

The admin connection comes from $BOUNCER_TEST_PG_ADMIN (scripts/test.sh sets it: TCP with
trust auth where that works, else the Unix socket as this OS user). A PostgreSQL that
cannot be reached fails the tests; it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

TESTS = Path(__file__).parent
CORPUS = TESTS / "corpus" / "sisimai"
PG_ADMIN_DSN = os.environ.get("BOUNCER_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_database(dsn: str, database: str, scheme: str | None = None) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((scheme or parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class PgDatabases:
    """Creates throw-away databases and drops them when the session ends."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def create(self) -> str:
        """A new empty database; returns its SQLAlchemy (asyncpg) URL."""
        name = f"bouncer_test_{secrets.token_hex(4)}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return _with_database(PG_ADMIN_DSN, name, scheme="postgresql+asyncpg")

    def drop_all(self) -> None:
        for name in self.names:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    databases = PgDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def pg_url(pg_databases: PgDatabases) -> str:
    """One PostgreSQL database for the whole test session (SQLAlchemy asyncpg URL)."""
    return pg_databases.create()


@pytest.fixture
def new_pg_url(pg_databases: PgDatabases) -> Callable[[], str]:
    """A factory of fresh, empty PostgreSQL databases, for tests that need a clean schema."""
    return pg_databases.create


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bouncer.db'}"


pytest_plugins = ["servers_fixtures"]  # private Dovecot, Postfix, PostgreSQL (tests/servers.py)
