"""Daemon test fixtures: a real, migrated store (SQLite per test; PostgreSQL where it matters)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bouncer.config import DatabaseConfig
from bouncer.store import Store
from bouncer.store.migrate import upgrade


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> DatabaseConfig:
    database = DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'bouncer.db'}")
    await upgrade(database)
    return database


@pytest.fixture
async def store(sqlite_database: DatabaseConfig) -> AsyncIterator[Store]:
    opened = await Store.open(sqlite_database)
    yield opened
    await opened.close()
