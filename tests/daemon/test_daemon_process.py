"""`bouncer run` as a real process: the quickstart, kill -9 mid-backlog, SIGTERM, SIGHUP, schema checks."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemon_helpers import deliver, dsn, files, make_maildir, names, personal
from process_helpers import REPO, Daemon, bouncer, pg_value, sqlite_rows, wait_until


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.close()


def pg_config(path: Path, url: str, maildirs: dict[str, Path]) -> Path:
    accounts = "".join(
        f"  - {{name: {name}, tenant: t-{name}, maildir: '{folder}'}}\n" for name, folder in maildirs.items()
    )
    path.write_text(f"database: {{url: '{url}'}}\nlogging: {{format: json, level: info}}\naccounts:\n{accounts}")
    return path


def backlog(maildir: Path, count: int, prefix: str) -> set[str]:
    return {deliver(maildir, dsn(f"user{i}@example.org", f"{prefix}-0000-4000-8000-{i:012d}")) for i in range(count)}


def test_quickstart_runs_on_a_fresh_machine_and_twice_records_nothing_twice(tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    samples = files(tmp_path / "examples" / "maildir")
    assert len(samples) == 16

    first = bouncer("run", "--once", "-c", "examples/quickstart.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    report = bouncer("report", "-c", "examples/quickstart.yaml", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "demo" in report.stdout

    database = tmp_path / "bouncer-quickstart.db"
    assert sqlite_rows(database, "select count(*) from inbound_messages") == [(16,)]
    # Real results: what examples/README.md promises for the samples.
    kinds = dict(sqlite_rows(database, "select kind, count(*) from inbound_messages group by kind"))
    assert kinds == {"bounce": 11, "delay": 2, "complaint": 1, "autoreply": 1, "not_bounce": 1}
    keyed = sqlite_rows(
        database,
        "select count(*) from inbound_messages where kind in ('bounce', 'delay', 'complaint')"
        " and tracker_key is not null",
    )
    assert keyed == [(14,)]
    again = bouncer("run", "--once", "-c", "examples/quickstart.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert sqlite_rows(database, "select count(*) from inbound_messages") == [(16,)]
    assert files(tmp_path / "examples" / "maildir") == samples  # dispose: keep


def test_once_exits_1_with_a_sentence_when_a_folder_cannot_be_read(tmp_path: Path) -> None:
    config = tmp_path / "bouncer.yaml"
    config.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path}/b.db'}}\n"
        "accounts:\n  - {name: gone, tenant: t, maildir: nowhere}\n"
    )
    result = bouncer("run", "--once", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert f"could not read 1 of 1 folders: gone/INBOX: maildir {tmp_path / 'nowhere'} is not a Maildir" in (
        result.stderr
    )


def test_run_refuses_a_postgresql_database_without_the_schema(tmp_path: Path, new_pg_url: Callable[[], str]) -> None:
    config = pg_config(tmp_path / "bouncer.yaml", new_pg_url(), {"a": make_maildir(tmp_path / "a")})
    result = bouncer("run", "--once", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "bouncer db upgrade -c" in result.stderr


def test_kill_9_in_the_middle_of_a_backlog_then_restart_records_every_message_exactly_once(
    tmp_path: Path, new_pg_url: Callable[[], str], daemons: list[Daemon]
) -> None:
    url = new_pg_url()
    inbox = make_maildir(tmp_path / "inbox")
    sent = backlog(inbox, 2000, "a0a0a0a0")
    config = pg_config(tmp_path / "bouncer.yaml", url, {"bounces": inbox})
    assert bouncer("db", "upgrade", "-c", str(config), cwd=tmp_path).returncode == 0

    def recorded() -> int:
        return int(pg_value(url, "select count(*) from inbound_messages"))  # type: ignore[call-overload]

    first = Daemon(config)
    daemons.append(first)
    wait_until(lambda: recorded() >= 300, 60, "the first daemon recording")
    first.kill()
    at_kill = recorded()
    assert at_kill < 2000, "the backlog was done before the kill; the test proved nothing"

    second = Daemon(config)
    daemons.append(second)
    wait_until(lambda: not names(inbox), 120, "the restarted daemon finishing the backlog")
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0

    assert recorded() == 2000
    assert pg_value(url, "select count(distinct sha256) from inbound_messages") == 2000
    assert names(inbox / ".Processed") == sent


def test_sigterm_during_a_backlog_exits_0_within_10_s_and_loses_nothing(
    tmp_path: Path, new_pg_url: Callable[[], str], daemons: list[Daemon]
) -> None:
    url = new_pg_url()
    inbox = make_maildir(tmp_path / "inbox")
    backlog(inbox, 1500, "b0b0b0b0")
    config = pg_config(tmp_path / "bouncer.yaml", url, {"bounces": inbox})
    assert bouncer("db", "upgrade", "-c", str(config), cwd=tmp_path).returncode == 0
    daemon = Daemon(config)
    daemons.append(daemon)
    wait_until(lambda: int(pg_value(url, "select count(*) from inbound_messages")) >= 100, 60, "recording")  # type: ignore[call-overload]

    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert time.monotonic() - started < 10

    # Everything recorded has been moved, and what is left is recorded by the next run.
    recorded = int(pg_value(url, "select count(*) from inbound_messages"))  # type: ignore[call-overload]
    assert len(names(inbox / ".Processed")) == recorded
    result = bouncer("run", "--once", "-c", str(config), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert pg_value(url, "select count(*) from inbound_messages") == 1500
    assert not names(inbox) and len(names(inbox / ".Processed")) == 1500


def test_sighup_adds_an_account_to_the_running_daemon(
    tmp_path: Path, new_pg_url: Callable[[], str], daemons: list[Daemon]
) -> None:
    url = new_pg_url()
    first, second = make_maildir(tmp_path / "a"), make_maildir(tmp_path / "b")
    config = pg_config(tmp_path / "bouncer.yaml", url, {"a": first})
    assert bouncer("db", "upgrade", "-c", str(config), cwd=tmp_path).returncode == 0
    daemon = Daemon(config)
    daemons.append(daemon)
    deliver(first, dsn("x@example.org", "c0c0c0c0-0000-4000-8000-000000000001"))
    wait_until(lambda: not names(first), 20, "account a")
    person = deliver(second, personal("reader@example.org"))
    deliver(second, dsn("y@example.org", "c0c0c0c0-0000-4000-8000-000000000002"))

    pg_config(config, url, {"a": first, "b": second})
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: len(names(second / ".Processed")) == 1, 20, "account b after SIGHUP")

    assert set(files(second)) == {f"new/{person}"}
    assert pg_value(url, "select count(*) from inbound_messages where account = 'b'") == 2
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.output()
