"""The database target of `bouncer check`: reachable, and at the schema this bouncer needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from servers import free_port

from bouncer.check.database_checks import check_database
from bouncer.check.result import Status
from bouncer.config import DatabaseConfig
from bouncer.store import migrate


@pytest.fixture
def empty_pg(new_pg_url: Callable[[], str]) -> DatabaseConfig:
    """A new PostgreSQL database without a schema (created outside the test's event loop)."""
    return DatabaseConfig(url=new_pg_url())


async def test_postgresql_without_schema_fails_with_the_upgrade_command(empty_pg: DatabaseConfig) -> None:
    run = await check_database(empty_pg, Path("/etc/bouncer.yaml"))
    assert [(s.name, s.status) for s in run.steps] == [("connect", Status.OK), ("schema", Status.FAIL)]
    hint = run.steps[1].hint
    assert hint is not None and hint.key == "database-schema"
    assert "bouncer db upgrade -c /etc/bouncer.yaml" in hint.text


async def test_postgresql_at_the_current_schema(empty_pg: DatabaseConfig) -> None:
    await migrate.upgrade(empty_pg)
    run = await check_database(empty_pg)
    assert [(s.name, s.status) for s in run.steps] == [("connect", Status.OK), ("schema", Status.OK)]
    assert run.steps[1].detail == f"at {migrate.head_revision()} (current)"


async def test_unreachable_postgresql_hides_the_password() -> None:
    url = f"postgresql+asyncpg://bouncer:Sup3r-Secret@127.0.0.1:{free_port()}/bouncer"
    run = await check_database(DatabaseConfig(url=url))
    assert [(s.name, s.status) for s in run.steps] == [("connect", Status.FAIL)]
    assert run.steps[0].hint is not None and run.steps[0].hint.key == "database-unreachable"
    assert "Sup3r-Secret" not in run.target + run.steps[0].detail


async def test_sqlite_that_does_not_exist_yet_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "bouncer.db"
    run = await check_database(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
    assert all(s.status is Status.OK for s in run.steps)
    assert not path.exists()


async def test_sqlite_behind_is_upgraded_by_run(tmp_path: Path) -> None:
    database = DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'bouncer.db'}")
    await migrate.upgrade(database)
    await migrate.downgrade(database)  # an existing file without the schema
    run = await check_database(database)
    assert all(s.status is Status.OK for s in run.steps), run.steps
    assert "bouncer run upgrades SQLite by itself" in run.steps[1].detail
