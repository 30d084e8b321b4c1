"""`bouncer run` as a real process against the private Dovecot and PostgreSQL:
kill -9 in the middle of a 2,000-message backlog, PostgreSQL stopped for 20 s under load,
SIGTERM while busy, SIGHUP adding an account."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemon_helpers import dsn
from process_helpers import Daemon, bouncer, pg_value, wait_until
from servers import Dovecot, MailUser, PrivatePostgres

from bouncer.sources.imap.watcher import WatcherOptions

pytestmark = pytest.mark.integration


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.close()


def imap_account(dovecot: Dovecot, user: MailUser, name: str) -> str:
    return (
        f"  - name: {name}\n    tenant: t-{name}\n"
        f"    imap: {{host: {dovecot.tls_host}, port: {dovecot.imaps_port}, security: tls,"
        f" username: '{user.address}', password: '{user.password}', ca_file: '{dovecot.ca_file}'}}\n"
    )


def write_config(path: Path, url: str, accounts: str) -> Path:
    path.write_text(f"database: {{url: '{url}'}}\nlogging: {{format: json, level: info}}\naccounts:\n{accounts}")
    return path


def message_files(maildir: Path) -> int:
    """Messages in a Dovecot Maildir folder (new/ and cur/), counted without IMAP."""
    return sum(
        len([n for n in os.listdir(maildir / sub) if not n.startswith(".")])
        for sub in ("new", "cur")
        if (maildir / sub).is_dir()
    )


def fill(dovecot: Dovecot, user: MailUser, count: int, prefix: str) -> None:
    for i in range(count):
        dovecot.drop_into_maildir(user, dsn(f"user{i}@example.org", f"{prefix}-0000-4000-8000-{i:012d}"))


def count(url: str, where: str = "true") -> int:
    return int(pg_value(url, f"select count(*) from inbound_messages where {where}"))  # type: ignore[call-overload]


def test_kill_9_in_the_middle_of_a_2000_message_backlog_then_restart_records_each_exactly_once(
    tmp_path: Path,
    dovecot: Dovecot,
    new_mail_user: Callable[..., MailUser],
    new_pg_url: Callable[[], str],
    daemons: list[Daemon],
) -> None:
    url = new_pg_url()
    user = new_mail_user()
    fill(dovecot, user, 2000, "a1a1a1a1")
    config = write_config(tmp_path / "bouncer.yaml", url, imap_account(dovecot, user, "bounces"))
    assert bouncer("db", "upgrade", "-c", str(config), cwd=tmp_path).returncode == 0

    first = Daemon(config)
    daemons.append(first)
    wait_until(lambda: count(url) >= 400, 120, "the first daemon recording")
    first.kill()
    at_kill = count(url)
    assert at_kill < 2000, "the backlog was done before the kill; the test proved nothing"

    second = Daemon(config)
    daemons.append(second)
    wait_until(lambda: message_files(user.maildir) == 0, 180, "the restarted daemon finishing the backlog")
    wait_until(lambda: count(url, "disposition = 'move' and disposed_at is null") == 0, 30, "acknowledgements")
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0, second.output()[-2000:]

    assert count(url) == 2000
    assert pg_value(url, "select count(distinct sha256) from inbound_messages") == 2000
    assert pg_value(url, "select count(*) from delivery_failures") == 2000
    assert message_files(user.maildir / ".Processed") == 2000
    print(f"recorded at the kill: {at_kill}")


def test_postgresql_stopped_for_20_s_under_load_loses_nothing(
    tmp_path: Path,
    dovecot: Dovecot,
    new_mail_user: Callable[..., MailUser],
    private_pg: PrivatePostgres,
    daemons: list[Daemon],
) -> None:
    url = private_pg.create_database()
    user = new_mail_user()
    fill(dovecot, user, 1500, "b1b1b1b1")
    config = write_config(tmp_path / "bouncer.yaml", url, imap_account(dovecot, user, "bounces"))
    assert bouncer("db", "upgrade", "-c", str(config), cwd=tmp_path).returncode == 0
    daemon = Daemon(config)
    daemons.append(daemon)
    wait_until(lambda: count(url) >= 200, 120, "recording under way")

    # "fast", not "immediate": the private cluster runs with fsync and synchronous_commit off
    # (tests/servers.py), so a crash of it can lose commits it already confirmed, which a
    # production PostgreSQL never does. Connections are cut all the same.
    private_pg.stop("fast")
    try:
        stopped_at = message_files(user.maildir)
        fill(dovecot, user, 100, "b2b2b2b2")  # mail keeps arriving during the outage
        time.sleep(20)
        assert daemon.process.poll() is None, "the daemon must survive a database outage"
        # At most the batches in hand moved: the watcher runs two deep, and both were
        # committed before the outage.
        in_hand = 2 * WatcherOptions().batch_size
        assert message_files(user.maildir) >= stopped_at + 100 - in_hand
    finally:
        private_pg.start()

    wait_until(lambda: message_files(user.maildir) == 0, 300, "catching up after the outage")
    wait_until(lambda: count(url, "disposition = 'move' and disposed_at is null") == 0, 60, "acknowledgements")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert count(url) == 1600
    assert pg_value(url, "select count(distinct sha256) from inbound_messages") == 1600
    assert message_files(user.maildir / ".Processed") == 1600


def test_sigterm_while_busy_exits_0_within_10_s_and_sighup_adds_an_account(
    tmp_path: Path,
    dovecot: Dovecot,
    new_mail_user: Callable[..., MailUser],
    new_pg_url: Callable[[], str],
    daemons: list[Daemon],
) -> None:
    url = new_pg_url()
    first, second = new_mail_user(), new_mail_user()
    fill(dovecot, first, 1000, "c1c1c1c1")
    fill(dovecot, second, 3, "c2c2c2c2")
    config = write_config(tmp_path / "bouncer.yaml", url, imap_account(dovecot, first, "a"))
    assert bouncer("db", "upgrade", "-c", str(config), cwd=tmp_path).returncode == 0
    daemon = Daemon(config)
    daemons.append(daemon)
    wait_until(lambda: count(url) >= 50, 60, "recording under way")

    write_config(config, url, imap_account(dovecot, first, "a") + imap_account(dovecot, second, "b"))
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: count(url, "account = 'b'") == 3, 30, "account b after SIGHUP")
    assert daemon.process.poll() is None

    if message_files(first.maildir) == 0:
        fill(dovecot, first, 500, "c3c3c3c3")  # keep it busy for the SIGTERM
        time.sleep(1)
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert time.monotonic() - started < 10
    # Nothing recorded is left unmoved for long: the next run acknowledges whatever was in flight.
    assert "daemon_stopped" in daemon.output()
