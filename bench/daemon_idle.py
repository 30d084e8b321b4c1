"""(b) 500 accounts idling on one Dovecot: the daemon's resident memory and the time to connect them all.

Starts a real `bouncer run` process with COUNT IMAP accounts (implicit TLS, certificates
verified) on a private Dovecot, waits until every watcher has logged in and selected its
folder (the watcher's ``imap_selected`` debug line), lets them settle into IDLE, and prints
the time that took, the resident memory (the daemon and any child processes), and how long
SIGTERM takes.

    .venv/bin/python bench/daemon_idle.py [COUNT]
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from daemon_common import mail_servers, pg_database

from bouncer.config import DatabaseConfig
from bouncer.store.migrate import upgrade


def connections(process: psutil.Process, port: int) -> int:
    established = psutil.CONN_ESTABLISHED
    return sum(
        1 for c in process.net_connections(kind="tcp") if c.status == established and c.raddr and c.raddr.port == port
    )


def selected(log: Path) -> int:
    return log.read_text(errors="replace").count('"imap_selected"')


def resident_mb(process: psutil.Process) -> float:
    total = process.memory_info().rss + sum(child.memory_info().rss for child in process.children(recursive=True))
    return total / 1024 / 1024


async def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with mail_servers() as (dovecot, _), tempfile.TemporaryDirectory() as tmp:
        users = [dovecot.add_user() for _ in range(count)]
        async with pg_database() as url:
            await upgrade(DatabaseConfig(url=url))
            accounts = "".join(
                f"  - name: a{i}\n    tenant: t{i % 20}\n"
                f"    imap: {{host: {dovecot.tls_host}, port: {dovecot.imaps_port}, security: tls,"
                f" username: '{u.address}', password: '{u.password}', ca_file: '{dovecot.ca_file}'}}\n"
                for i, u in enumerate(users)
            )
            config = Path(tmp) / "bouncer.yaml"
            config.write_text(
                f"database: {{url: '{url}'}}\nlogging: {{format: json, level: debug}}\naccounts:\n{accounts}"
            )
            log_path = Path(tmp) / "daemon.log"
            started = time.monotonic()
            with log_path.open("wb") as log:
                command = [sys.executable, "-m", "bouncer", "run", "-c", str(config)]
                daemon = subprocess.Popen(command, stdout=log, stderr=log)  # noqa: ASYNC220 - one start, no wait
            process = psutil.Process(daemon.pid)
            try:
                ready = 0
                while ready < count:
                    if daemon.poll() is not None:
                        raise SystemExit(f"the daemon exited: {log_path.read_text()[-2000:]}")
                    if time.monotonic() - started > 300:
                        raise SystemExit(f"only {ready} of {count} selected after 300 s")
                    await asyncio.sleep(0.2)
                    ready = selected(log_path)
                took = time.monotonic() - started
                await asyncio.sleep(10)  # settled into IDLE
                memory = resident_mb(process)
                held = connections(process, dovecot.imaps_port)
            finally:
                daemon.send_signal(signal.SIGTERM)
                stop_started = time.monotonic()
                code = daemon.wait(60)
                stopped = time.monotonic() - stop_started
            tail = [line for line in log_path.read_text(errors="replace").splitlines() if "imap_" not in line][-8:]
    print("\n".join(tail))
    print(
        f"{count} IMAP accounts idling: all logged in and selected (TLS verified) in {took:.1f} s; "
        f"resident memory {memory:.0f} MB ({held} connections held); SIGTERM -> exit {code} in {stopped:.1f} s"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main())
