"""The running daemon: live watching, database outages, SIGHUP, SIGTERM, systemd notify."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from daemon_helpers import deliver, dsn, files, kinds, make_maildir, names, personal, recorded
from servers import PrivatePostgres

from bouncer.config import DatabaseConfig, load_config
from bouncer.daemon import serve
from bouncer.store import Store
from bouncer.store.migrate import upgrade


def write_config(
    path: Path, maildirs: dict[str, Path], *, dispose: str = "move", extra: str = "", url: str | None = None
) -> Path:
    accounts = "".join(
        f"  - name: {name}\n    tenant: t-{name}\n    maildir: {folder}\n    dispose: {dispose}\n{extra}"
        for name, folder in maildirs.items()
    )
    url = url or f"sqlite+aiosqlite:///{path.parent}/bouncer.db"
    path.write_text(f"database: {{url: '{url}'}}\naccounts:\n{accounts}")
    return path


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> float:
    """Wait until ``condition`` holds; returns how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.02)
    return loop.time() - start


def start(config_file: Path, store: Store) -> asyncio.Task[int]:
    config = load_config(config_file)
    return asyncio.create_task(serve(config, config_file, store))


async def stop(task: asyncio.Task[int]) -> int:
    os.kill(os.getpid(), signal.SIGTERM)
    return await asyncio.wait_for(task, 10.0)


async def test_new_mail_is_recorded_and_moved_within_two_seconds_and_sigterm_exits_0(
    tmp_path: Path, store: Store
) -> None:
    inbox = make_maildir(tmp_path / "a")
    daemon = start(write_config(tmp_path / "bouncer.yaml", {"a": inbox}), store)
    await asyncio.sleep(0.3)
    name = deliver(inbox, dsn("nobody@example.org", "aaaaaaaa-0000-4000-8000-000000000001"))
    person = deliver(inbox, personal("reader@example.org"))

    took = await eventually(lambda: f"new/{name}" in files(inbox / ".Processed"))

    assert took < 2.0
    assert set(files(inbox)) == {f"new/{person}"}
    assert await kinds(store) == ["bounce", "not_bounce"]
    assert await stop(daemon) == 0


async def test_a_database_outage_loses_nothing_and_records_nothing_twice(
    tmp_path: Path, private_pg: PrivatePostgres
) -> None:
    database = DatabaseConfig(url=await asyncio.to_thread(private_pg.create_database))
    await upgrade(database)
    store = await Store.open(database)
    inbox = make_maildir(tmp_path / "a")
    try:
        daemon = start(write_config(tmp_path / "bouncer.yaml", {"a": inbox}, url=database.url), store)
        first = [deliver(inbox, dsn(f"n{i}@example.org", f"bbbbbbbb-0000-4000-8000-{i:012d}")) for i in range(10)]
        await eventually(lambda: len(names(inbox / ".Processed")) == 10, within=15)

        await asyncio.to_thread(private_pg.stop)
        try:
            more = [deliver(inbox, dsn(f"m{i}@example.org", f"bbbbbbbb-1111-4000-8000-{i:012d}")) for i in range(30)]
            await asyncio.sleep(3)  # the watcher fails, backs off, retries
            assert len(names(inbox)) == 30  # nothing acknowledged without a record
        finally:
            await asyncio.to_thread(private_pg.start)

        await eventually(lambda: len(names(inbox / ".Processed")) == 40, within=60)
        for _ in range(100):  # the acknowledgement follows the move
            rows = await recorded(store)
            if all(r["disposed_at"] is not None for r in rows):
                break
            await asyncio.sleep(0.1)
        assert sorted(r["source_name"] for r in rows) == sorted(first + more)
        assert all(r["disposed_at"] is not None for r in rows)
        assert await stop(daemon) == 0
    finally:
        await store.close()


async def test_sighup_starts_an_added_account_and_leaves_the_running_one_alone(tmp_path: Path, store: Store) -> None:
    first, second = make_maildir(tmp_path / "a"), make_maildir(tmp_path / "b")
    config_file = write_config(tmp_path / "bouncer.yaml", {"a": first})
    daemon = start(config_file, store)
    await asyncio.sleep(0.3)
    deliver(second, dsn("nobody@example.org", "cccccccc-0000-4000-8000-000000000001"))
    await asyncio.sleep(1.2)
    assert not await recorded(store)  # account b is not configured yet

    write_config(config_file, {"a": first, "b": second})
    os.kill(os.getpid(), signal.SIGHUP)
    await eventually(lambda: len(files(second / ".Processed")) == 1)

    # a broken file is logged and ignored; the running accounts go on
    config_file.write_text("accounts: [ {name: BAD NAME} ]\n")
    os.kill(os.getpid(), signal.SIGHUP)
    await asyncio.sleep(0.3)
    deliver(first, dsn("other@example.org", "cccccccc-0000-4000-8000-000000000002"))
    await eventually(lambda: len(files(first / ".Processed")) == 1)
    assert not daemon.done()
    assert await stop(daemon) == 0


async def test_sighup_restarts_only_the_account_whose_settings_changed(tmp_path: Path, store: Store) -> None:
    first, second = make_maildir(tmp_path / "a"), make_maildir(tmp_path / "b")
    config_file = write_config(tmp_path / "bouncer.yaml", {"a": first, "b": second})
    daemon = start(config_file, store)
    await asyncio.sleep(0.3)
    tasks = {t.get_name(): t for t in asyncio.all_tasks() if t.get_name().startswith("watch ")}
    assert set(tasks) == {"watch a/INBOX", "watch b/INBOX"}

    text = config_file.read_text().replace("maildir: " + str(second), "maildir: " + str(second) + "\n    dispose: keep")
    text = text.replace("dispose: keep\n    dispose: move", "dispose: keep")
    config_file.write_text(text)
    os.kill(os.getpid(), signal.SIGHUP)
    await eventually(lambda: tasks["watch b/INBOX"].done())

    now = {t.get_name(): t for t in asyncio.all_tasks() if t.get_name().startswith("watch ")}
    assert now["watch a/INBOX"] is tasks["watch a/INBOX"]  # untouched
    assert now["watch b/INBOX"] is not tasks["watch b/INBOX"]  # restarted with dispose: keep
    name = deliver(second, dsn("nobody@example.org", "dddddddd-0000-4000-8000-000000000001"))
    await asyncio.sleep(1.5)
    assert set(files(second)) == {f"new/{name}"}
    assert await stop(daemon) == 0


async def test_systemd_is_told_ready_reloading_and_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    config_file = write_config(tmp_path / "bouncer.yaml", {"a": make_maildir(tmp_path / "a")})
    daemon = start(config_file, store)
    loop = asyncio.get_running_loop()
    try:
        ready = (await asyncio.wait_for(loop.sock_recv(notify, 1024), 5)).decode()
        assert ready.startswith("READY=1")
        os.kill(os.getpid(), signal.SIGHUP)
        reloading = (await asyncio.wait_for(loop.sock_recv(notify, 1024), 5)).decode()
        assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert (await asyncio.wait_for(loop.sock_recv(notify, 1024), 5)).decode().startswith("READY=1")
        assert await stop(daemon) == 0
        assert (await asyncio.wait_for(loop.sock_recv(notify, 1024), 5)).decode() == "STOPPING=1"
    finally:
        notify.close()
