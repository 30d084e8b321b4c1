"""The running daemon: live watching, database outages, SIGHUP, SIGTERM, systemd notify."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from daemon_helpers import MemoryStore, deliver, dsn, files, make_maildir, personal, stand_in_analyse

from bouncer.config import load_config
from bouncer.daemon import serve


def write_config(path: Path, maildirs: dict[str, Path], *, dispose: str = "move", extra: str = "") -> Path:
    accounts = "".join(
        f"  - name: {name}\n    tenant: t-{name}\n    maildir: {folder}\n    dispose: {dispose}\n{extra}"
        for name, folder in maildirs.items()
    )
    path.write_text(f"database: {{url: 'sqlite+aiosqlite:///{path.parent}/unused.db'}}\naccounts:\n{accounts}")
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


def start(config_file: Path, store: MemoryStore) -> asyncio.Task[int]:
    config = load_config(config_file)
    return asyncio.create_task(serve(config, config_file, store, analyser=stand_in_analyse))


async def stop(task: asyncio.Task[int]) -> int:
    os.kill(os.getpid(), signal.SIGTERM)
    return await asyncio.wait_for(task, 10.0)


async def test_new_mail_is_recorded_and_moved_within_two_seconds_and_sigterm_exits_0(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "a")
    store = MemoryStore()
    daemon = start(write_config(tmp_path / "bouncer.yaml", {"a": inbox}), store)
    await asyncio.sleep(0.3)
    name = deliver(inbox, dsn("nobody@example.org", "aaaaaaaa-0000-4000-8000-000000000001"))
    person = deliver(inbox, personal("reader@example.org"))

    took = await eventually(lambda: f"new/{name}" in files(inbox / ".Processed"))

    assert took < 2.0
    assert set(files(inbox)) == {f"new/{person}"}
    assert store.kinds() == ["bounce", "not_bounce"]
    assert await stop(daemon) == 0


async def test_a_database_outage_loses_nothing_and_records_nothing_twice(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "a")
    store = MemoryStore(down=True)
    daemon = start(write_config(tmp_path / "bouncer.yaml", {"a": inbox}), store)
    names = [deliver(inbox, dsn(f"n{i}@example.org", f"bbbbbbbb-0000-4000-8000-{i:012d}")) for i in range(30)]
    await asyncio.sleep(1.5)  # the watcher is retrying with backoff
    assert len(files(inbox)) == 30 and not store.records

    store.down = False
    await eventually(lambda: len(files(inbox / ".Processed")) == 30, within=8)

    assert {r.item.message.name for r in store.records.values()} == set(names)
    assert len(store.records) == 30 and all(r.disposed for r in store.records.values())
    assert await stop(daemon) == 0


async def test_sighup_starts_an_added_account_and_leaves_the_running_one_alone(tmp_path: Path) -> None:
    first, second = make_maildir(tmp_path / "a"), make_maildir(tmp_path / "b")
    config_file = write_config(tmp_path / "bouncer.yaml", {"a": first})
    store = MemoryStore()
    daemon = start(config_file, store)
    await asyncio.sleep(0.3)
    deliver(second, dsn("nobody@example.org", "cccccccc-0000-4000-8000-000000000001"))
    await asyncio.sleep(1.2)
    assert not store.records  # account b is not configured yet

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


async def test_sighup_restarts_only_the_account_whose_settings_changed(tmp_path: Path) -> None:
    first, second = make_maildir(tmp_path / "a"), make_maildir(tmp_path / "b")
    config_file = write_config(tmp_path / "bouncer.yaml", {"a": first, "b": second})
    daemon = start(config_file, MemoryStore())
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


async def test_systemd_is_told_ready_reloading_and_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    config_file = write_config(tmp_path / "bouncer.yaml", {"a": make_maildir(tmp_path / "a")})
    daemon = start(config_file, MemoryStore())
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
