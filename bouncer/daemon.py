"""`bouncer run`: wires sources, analysis, store and disposition together."""

from __future__ import annotations

from pathlib import Path

from bouncer.config import Config
from bouncer.errors import BouncerError


async def run_daemon(config: Config, config_path: Path, *, once: bool = False) -> int:
    raise BouncerError("the daemon is not built yet")
