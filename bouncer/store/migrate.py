"""`bouncer db upgrade` and `bouncer db current`."""

from __future__ import annotations

from bouncer.config import DatabaseConfig
from bouncer.errors import BouncerError


async def upgrade(database: DatabaseConfig) -> str:
    raise BouncerError("migrations are not built yet")


async def current(database: DatabaseConfig) -> str:
    raise BouncerError("migrations are not built yet")
