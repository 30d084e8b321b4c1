"""The database target of `bouncer check`: reachable, and at the schema this bouncer needs.

A PostgreSQL schema that is missing or behind is a failure (``bouncer run`` refuses it
until ``bouncer db upgrade``); SQLite is bouncer's own file, which ``bouncer run`` creates
and upgrades itself, so there it is only worth a note. Nothing is created or changed:
a SQLite file that does not exist yet is not opened (opening would create it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bouncer.check.result import Outcome, StepFailed, TargetRun
from bouncer.config import DatabaseConfig
from bouncer.errors import BouncerError
from bouncer.hints import Hint
from bouncer.store import migrate
from bouncer.store.store import schema_problem

DATABASE_TIMEOUT = 30.0


def _sqlite_file(database: DatabaseConfig) -> Path | None:
    path = database.url.split(":///", 1)[1] if ":///" in database.url else ""
    return Path(path) if path and path != ":memory:" else None


async def check_database(database: DatabaseConfig, config_path: Path | None = None) -> TargetRun:
    run = TargetRun(f"database ({database.safe_url})")
    revision: list[str | None] = []

    async def connect() -> Outcome:
        if database.kind == "sqlite":
            path = _sqlite_file(database)
            if path is not None and not path.exists():
                if not path.parent.is_dir():
                    raise StepFailed(f"the folder {path.parent} of the SQLite file does not exist")
                revision.append(None)
                return Outcome(f"{path} does not exist yet; bouncer run creates it")
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                revision.append(await migrate.read_revision(database))
        except TimeoutError:
            raise StepFailed(
                f"the database did not answer within {DATABASE_TIMEOUT:g}s",
                Hint("database-unreachable", "Check the host and port in database.url and that the server runs."),
            ) from None
        except BouncerError as exc:
            raise StepFailed(
                str(exc), Hint("database-unreachable", "Check database.url (host, port, user, password, database).")
            ) from None
        return Outcome("connected")

    async def schema() -> Outcome:
        at = revision[0]
        problem = schema_problem(at, config_path)
        if problem is None:
            return Outcome(f"at {at} (current)")
        if database.kind == "sqlite" and (at is None or at in migrate.known_revisions()):
            return Outcome(f"{problem.split(':')[0]}; bouncer run upgrades SQLite by itself")
        raise StepFailed(problem, Hint("database-schema", problem[0].upper() + problem[1:] + "."))

    await run.step("connect", connect)
    await run.step("schema", schema)
    return run
