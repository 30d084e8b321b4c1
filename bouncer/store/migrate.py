"""`bouncer db upgrade` and `bouncer db current`: Alembic, configured in code.

The migration scripts live in this package (``bouncer/store/migrations``), so an installed
bouncer finds them as well as a source checkout does; there is no alembic.ini.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bouncer.config import DatabaseConfig
from bouncer.errors import BouncerError
from bouncer.store.engine import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The schema revision this bouncer needs."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _database_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def database_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at; None for an empty database."""
    return await connection.run_sync(_database_revision)


@contextlib.contextmanager
def database_errors(database: DatabaseConfig, doing: str) -> Iterator[None]:
    """Turn a failure to ``doing`` (open, read, migrate) the database into one sentence for the user."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise BouncerError(f"cannot {doing} the database {database.safe_url}: {first_line(exc)}") from None
    except OSError as exc:
        raise BouncerError(f"cannot reach the database {database.safe_url}: {exc}") from None


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


async def _run(database: DatabaseConfig, action: Callable[[AlembicConfig], None]) -> None:
    engine = make_engine(database)
    try:
        with database_errors(database, "migrate"):
            async with engine.begin() as connection:

                def run_action(sync_connection: Connection) -> None:
                    config = alembic_config()
                    config.attributes["connection"] = sync_connection
                    action(config)

                await connection.run_sync(run_action)
    finally:
        await engine.dispose()


async def read_revision(database: DatabaseConfig) -> str | None:
    engine = make_engine(database)
    try:
        with database_errors(database, "read"):
            async with engine.connect() as connection:
                return await database_revision(connection)
    finally:
        await engine.dispose()


async def upgrade(database: DatabaseConfig) -> str:
    """Bring the schema up to this bouncer's revision; returns a sentence saying what happened."""
    before = await read_revision(database)
    if before is not None and before not in known_revisions():
        raise BouncerError(
            f"the database schema is at revision {before}, which this bouncer does not know: "
            "a newer bouncer has upgraded it; run that newer version"
        )
    head = head_revision()
    if before == head:
        return f"the database schema is already at {head} (current)"
    await _run(database, lambda config: command.upgrade(config, "head"))
    return f"upgraded the database schema from {before or 'empty'} to {head}"


async def downgrade(database: DatabaseConfig, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (``base``: an empty schema). For tests and developers."""
    await _run(database, lambda config: command.downgrade(config, revision))


async def current(database: DatabaseConfig) -> str:
    """A sentence naming the database's revision and whether it is what this bouncer needs."""
    at = await read_revision(database)
    head = head_revision()
    if at is None:
        return f"the database has no bouncer schema yet; this bouncer needs {head}: run `bouncer db upgrade`"
    if at == head:
        return f"{at} (current)"
    if at in known_revisions():
        return f"{at} (behind: this bouncer needs {head}; run `bouncer db upgrade`)"
    return f"{at} (ahead: written by a newer bouncer; this one needs {head})"
