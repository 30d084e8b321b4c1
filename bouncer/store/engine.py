"""One way to open the database, for the daemon, the migrations and the reports alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bouncer.config import DatabaseConfig

# How long a statement may wait for another writer's lock on SQLite (seconds): a second
# process recording at the same moment waits its turn instead of failing.
SQLITE_BUSY_TIMEOUT = 30.0
# How long to wait for a PostgreSQL connection before giving up (seconds).
PG_CONNECT_TIMEOUT = 15.0


def make_engine(database: DatabaseConfig, **options: Any) -> AsyncEngine:
    """An async engine for ``database.url`` (asyncpg or aiosqlite), with safe defaults."""
    if database.kind == "sqlite":
        engine = create_async_engine(database.url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT}, **options)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Foreign keys are off by default in SQLite; WAL lets reports read while the
            # daemon writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_async_engine(
        database.url,
        connect_args={"timeout": PG_CONNECT_TIMEOUT, "command_timeout": 300},
        pool_pre_ping=True,
        **options,
    )
