"""Running `bouncer` as a real subprocess, and reading what it recorded."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parents[2]


def bouncer(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bouncer", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


class Daemon:
    """`bouncer run -c FILE` in the background, its output in files next to the config."""

    def __init__(self, config_file: Path, *extra: str) -> None:
        self.config_file = config_file
        self.log = config_file.parent / f"daemon-{time.time_ns()}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bouncer", "run", "-c", str(config_file), *extra],
                cwd=config_file.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()


def pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def pg_value(url: str, query: str) -> object:
    async def fetch() -> object:
        conn = await asyncpg.connect(pg_dsn(url), timeout=10)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    return asyncio.run(fetch())


def sqlite_rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(query))


def wait_until(condition: Callable[[], bool], within: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.05)
    return time.monotonic() - start
