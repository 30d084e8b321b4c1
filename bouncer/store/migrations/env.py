"""Alembic environment: runs on the connection that bouncer.store.migrate hands over.

bouncer configures Alembic in code (no alembic.ini): ``migrate.py`` opens an async engine,
and inside ``AsyncConnection.run_sync`` puts the sync connection into
``config.attributes["connection"]``. For the plain ``alembic`` command (developers only),
``sqlalchemy.url`` is used instead.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from bouncer.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url() -> None:
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_from_url())
