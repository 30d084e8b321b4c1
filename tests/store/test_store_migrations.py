"""The schema: migrations up from empty and down again, the version check, `bouncer db`."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from store_helpers import inspect_database

from bouncer.cli import main
from bouncer.config import DatabaseConfig
from bouncer.errors import BouncerError
from bouncer.store import Store, migrate
from bouncer.store.engine import make_engine
from bouncer.store.schema import SENDER_SIDE_REASONS, metadata, sender_side_reasons
from bouncer.store.store import schema_problem

TABLES = {"inbound_messages", "delivery_failures", "mailbox_state", "sender_side_reasons"}
VIEWS = {"campaign_failures", "recipient_status"}


def _names(connection: Connection) -> tuple[set[str], set[str]]:
    inspector = inspect(connection)
    return set(inspector.get_table_names()), set(inspector.get_view_names())


async def schema_objects(database: DatabaseConfig) -> tuple[set[str], set[str]]:
    return await inspect_database(database, _names)


async def test_up_from_empty_and_down_again(database: DatabaseConfig) -> None:
    assert await schema_objects(database) == (set(), set())

    said = await migrate.upgrade(database)
    assert said == f"upgraded the database schema from empty to {migrate.head_revision()}"
    tables, views = await schema_objects(database)
    assert tables == TABLES | {"alembic_version"}
    assert views == VIEWS
    assert await migrate.current(database) == f"{migrate.head_revision()} (current)"
    assert "already" in await migrate.upgrade(database)

    await migrate.downgrade(database)
    assert await schema_objects(database) == ({"alembic_version"}, set())
    assert "no bouncer schema yet" in await migrate.current(database)

    await migrate.upgrade(database)  # and up once more: the downgrade left nothing in the way
    assert (await schema_objects(database))[1] == VIEWS


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [diff for diff in compare_metadata(context, metadata) if not _is_noise(diff)]


def _is_noise(diff: object) -> bool:
    # The views show up as tables the models do not have; alembic_version is Alembic's own.
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name in {"alembic_version"}


async def test_the_models_match_what_the_migrations_build(migrated: DatabaseConfig) -> None:
    engine = make_engine(migrated)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            stored = dict((await connection.execute(select(sender_side_reasons))).all())
    finally:
        await engine.dispose()
    assert stored == {str(reason): why for reason, why in SENDER_SIDE_REASONS.items()}


async def test_open_refuses_an_empty_database(database: DatabaseConfig) -> None:
    with pytest.raises(BouncerError, match=r"no bouncer schema yet .*run `bouncer db upgrade -c /etc/bouncer.yaml`"):
        await Store.open(database, config_path="/etc/bouncer.yaml")
    store = await Store.open(database, require_current_schema=False)  # `bouncer check` may still look
    await store.close()


async def test_open_refuses_a_schema_written_by_a_newer_bouncer(migrated: DatabaseConfig) -> None:
    engine = make_engine(migrated)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        await engine.dispose()
    with pytest.raises(BouncerError, match=r"at 9999, which is newer than this bouncer knows .*needs 0002"):
        await Store.open(migrated)
    with pytest.raises(BouncerError, match="a newer bouncer has upgraded it"):
        await migrate.upgrade(migrated)
    assert "ahead" in await migrate.current(migrated)


async def test_open_accepts_the_current_schema(migrated: DatabaseConfig) -> None:
    store = await Store.open(migrated)
    await store.close()


def test_a_schema_behind_names_the_command() -> None:
    assert migrate.head_revision() == "0002"
    assert schema_problem("0001", "site.yaml") == (
        "the database schema is at 0001 but this bouncer needs 0002: run `bouncer db upgrade -c site.yaml`"
    )
    assert schema_problem("0002") is None


def test_bouncer_db_upgrade_and_current(
    database: DatabaseConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bouncer.yaml"
    config.write_text(f"database:\n  url: {database.url}\n", encoding="utf-8")

    assert main(["db", "current", "-c", str(config)]) == 0
    assert "no bouncer schema yet" in capsys.readouterr().out
    assert main(["db", "upgrade", "-c", str(config)]) == 0
    assert "upgraded the database schema from empty to 0002" in capsys.readouterr().out
    assert main(["db", "current", "-c", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "0002 (current)"


def test_an_unreachable_database_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bouncer.yaml"
    config.write_text("database:\n  url: postgresql+asyncpg://bouncer:s3cret@127.0.0.1:1/bouncer\n", encoding="utf-8")
    assert main(["db", "upgrade", "-c", str(config)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("bouncer: cannot reach the database postgresql+asyncpg://bouncer:***@127.0.0.1:1/bouncer")
    assert "s3cret" not in error


def test_the_migrations_ship_inside_the_package() -> None:
    # setuptools' packages.find ships only directories that are packages: each folder of
    # migration scripts needs its __init__.py, or an installed bouncer would find no revisions.
    folders = {path.parent for path in migrate.MIGRATIONS.rglob("*.py")}
    assert migrate.MIGRATIONS / "versions" in folders
    assert all((folder / "__init__.py").is_file() for folder in folders)
    assert migrate.MIGRATIONS.parent == Path(migrate.__file__).parent
