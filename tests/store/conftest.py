"""Every store test runs against real PostgreSQL and SQLite, each on a fresh, migrated database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bouncer.config import DatabaseConfig
from bouncer.store import Store
from bouncer.store.migrate import upgrade


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest, new_pg_url: Callable[[], str], sqlite_url: str) -> DatabaseConfig:
    """An empty database of each kind (no schema yet)."""
    return DatabaseConfig(url=new_pg_url() if request.param == "postgresql" else sqlite_url)


@pytest.fixture
async def migrated(database: DatabaseConfig) -> DatabaseConfig:
    await upgrade(database)
    return database


@pytest.fixture
async def store(migrated: DatabaseConfig) -> AsyncIterator[Store]:
    opened = await Store.open(migrated)
    yield opened
    await opened.close()
