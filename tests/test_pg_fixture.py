"""The harness itself: the PostgreSQL fixture gives a real, empty, writable database."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def test_postgres_database_is_real_and_empty(pg_url: str) -> None:
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            version = (await conn.execute(text("show server_version"))).scalar_one()
            await conn.execute(text("create temporary table probe (x int)"))
    finally:
        await engine.dispose()
    assert int(version.split(".")[0]) >= 13


async def test_sqlite_database_is_writable(sqlite_url: str) -> None:
    engine = create_async_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table probe (x int)"))
            await conn.execute(text("insert into probe values (1)"))
            assert (await conn.execute(text("select sum(x) from probe"))).scalar_one() == 1
    finally:
        await engine.dispose()
