"""The Maildir source and the disposition rule, end to end: real analysis, real store (SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from daemon_helpers import autoreply, complaint, deliver, dsn, files, kinds, make_maildir, personal, recorded

from bouncer.config import AccountConfig, Config
from bouncer.daemon import drain_all
from bouncer.errors import BouncerError
from bouncer.pipeline import PipelineCore
from bouncer.sources.maildir import MaildirWatcher, _list
from bouncer.store import Store


def account(maildir: Path, **settings: object) -> AccountConfig:
    return AccountConfig.model_validate({"name": "bounces", "tenant": "t1", "maildir": maildir, **settings})


def watcher(store: Store, acct: AccountConfig, folder: str = "INBOX") -> MaildirWatcher:
    return MaildirWatcher(acct, folder, PipelineCore(store, Config(accounts=(acct,))).for_account(acct))


def mixed_inbox(maildir: Path) -> dict[str, str]:
    """One of each kind; returns base name -> kind."""
    return {
        deliver(maildir, dsn("nobody@example.org", "11111111-aaaa-4bbb-8ccc-000000000001")): "bounce",
        deliver(
            maildir, dsn("full@example.org", "11111111-aaaa-4bbb-8ccc-000000000002", status="4.2.2", action="delayed")
        ): "delay",
        deliver(maildir, complaint("angry@example.org", "11111111-aaaa-4bbb-8ccc-000000000003")): "complaint",
        deliver(maildir, autoreply("holiday@example.org")): "autoreply",
        deliver(maildir, personal("reader@example.org"), subdir="cur", flags=""): "not_bounce",
    }


def names_by_kind(kinds_by_name: dict[str, str], wanted: set[str]) -> set[str]:
    return {name for name, kind in kinds_by_name.items() if kind in wanted}


def bases(found: dict[str, bytes]) -> set[str]:
    return {key.split("/", 1)[1].split(":", 1)[0] for key in found}


async def test_bounce_account_moves_failure_reports_and_leaves_the_rest_exactly_as_it_was(
    tmp_path: Path, store: Store
) -> None:
    inbox = make_maildir(tmp_path / "mail")
    by_name = mixed_inbox(inbox)
    left_alone = {
        k: v for k, v in files(inbox).items() if bases({k: v}) <= names_by_kind(by_name, {"autoreply", "not_bounce"})
    }

    count = await watcher(store, account(inbox)).drain()

    assert count == 5
    assert await kinds(store) == ["autoreply", "bounce", "complaint", "delay", "not_bounce"]
    assert files(inbox) == left_alone  # same names (flags included), same bytes
    processed = files(inbox / ".Processed")
    assert bases(processed) == names_by_kind(by_name, {"bounce", "delay", "complaint"})
    assert all(key.startswith("new/") for key in processed)  # they were in new/, and stay unread there
    rows = await recorded(store)
    assert {r["source_name"]: r["kind"] for r in rows} == by_name
    assert all((r["disposed_at"] is not None) == (r["disposition"] == "move") for r in rows)
    assert {r["tracker_key"] for r in rows if r["kind"] == "bounce"} == {"11111111-aaaa-4bbb-8ccc-000000000001"}
    (state,) = await store.mailbox_states()
    assert (state.account, state.folder, state.last_error) == ("bounces", "INBOX", None)
    assert state.last_ok_at is not None


async def test_group_account_touches_only_bounces(tmp_path: Path, store: Store) -> None:
    inbox = make_maildir(tmp_path / "mail")
    by_name = mixed_inbox(inbox)

    await watcher(store, account(inbox, role="group")).drain()

    assert bases(files(inbox / ".Processed")) == names_by_kind(by_name, {"bounce"})
    assert bases(files(inbox)) == names_by_kind(by_name, {"delay", "complaint", "autoreply", "not_bounce"})
    assert len(await recorded(store)) == 5


@pytest.mark.parametrize("dispose", ["seen", "delete", "keep"])
async def test_dispose_settings(tmp_path: Path, store: Store, dispose: str) -> None:
    inbox = make_maildir(tmp_path / "mail")
    bounce = deliver(inbox, dsn("nobody@example.org", "22222222-aaaa-4bbb-8ccc-000000000001"))
    person = deliver(inbox, personal("reader@example.org"))

    await watcher(store, account(inbox, dispose=dispose)).drain()

    after = files(inbox)
    assert f"new/{person}" in after  # a person's mail: untouched whatever the setting
    expected = {"seen": {f"cur/{bounce}:2,S"}, "delete": set(), "keep": {f"new/{bounce}"}}[dispose]
    assert set(after) - {f"new/{person}"} == expected
    assert not (inbox / ".Processed").exists()


async def test_seen_keeps_the_flags_a_mail_client_set(tmp_path: Path, store: Store) -> None:
    inbox = make_maildir(tmp_path / "mail")
    message = dsn("nobody@example.org", "33333333-aaaa-4bbb-8ccc-000000000001")
    bounce = deliver(inbox, message, subdir="cur", flags="F")
    await watcher(store, account(inbox, dispose="seen")).drain()
    assert set(files(inbox)) == {f"cur/{bounce}:2,FS"}


async def test_a_second_pass_records_nothing_twice_and_reads_nothing_again(tmp_path: Path, store: Store) -> None:
    inbox = make_maildir(tmp_path / "mail")
    mixed_inbox(inbox)
    acct = account(inbox)
    first = watcher(store, acct)
    assert await first.drain() == 5
    assert await first.drain() == 0  # what stayed in place is remembered
    # A new process reads what stayed in place once more; the store recognises it.
    assert await watcher(store, acct).drain() == 2
    assert len(await recorded(store)) == 5


async def test_oversized_message_is_recorded_from_its_header_and_left_in_place(tmp_path: Path, store: Store) -> None:
    inbox = make_maildir(tmp_path / "mail")
    big = dsn("nobody@example.org", "44444444-aaaa-4bbb-8ccc-000000000001") + b"x" * 50_000
    name = deliver(inbox, big)

    await watcher(store, account(inbox, max_message_bytes=10_000)).drain()

    (row,) = await recorded(store)
    assert row["truncated"] and row["size"] == len(big)
    assert row["raw"].startswith(b"From: MAILER-DAEMON") and len(row["raw"]) < 1000
    assert "max_message_bytes" in row["error"]
    assert row["disposition"] == "none"
    assert set(files(inbox)) == {f"new/{name}"}


async def test_a_crash_between_record_and_move_is_finished_on_the_next_start(tmp_path: Path, store: Store) -> None:
    inbox = make_maildir(tmp_path / "mail")
    name = deliver(inbox, dsn("nobody@example.org", "55555555-aaaa-4bbb-8ccc-000000000001"))
    acct = account(inbox)
    first = watcher(store, acct)
    # The first run records the message and "dies" before it moves it.
    await first.pipeline.handle(await asyncio.to_thread(first._read, _list(inbox)))
    assert set(files(inbox)) == {f"new/{name}"}
    assert len(await store.pending_dispositions("bounces", "INBOX")) == 1

    await watcher(store, acct).drain()

    assert files(inbox) == {}
    assert set(files(inbox / ".Processed")) == {f"new/{name}"}
    assert len(await recorded(store)) == 1
    assert await store.pending_dispositions("bounces", "INBOX") == []


async def test_other_folders_are_maildir_plus_plus_sub_folders(tmp_path: Path, store: Store) -> None:
    root = make_maildir(tmp_path / "mail")
    junk = make_maildir(root / ".Junk.Bounces")
    name = deliver(junk, dsn("nobody@example.org", "66666666-aaaa-4bbb-8ccc-000000000001"))
    acct = account(root, folders=["INBOX", "Junk/Bounces"], processed_folder="Done")
    await drain_all(Config(accounts=(acct,)), PipelineCore(store, Config(accounts=(acct,))))
    assert set(files(root / ".Done")) == {f"new/{name}"}
    assert [r["folder"] for r in await recorded(store)] == ["Junk/Bounces"]


async def test_once_names_the_folder_it_could_not_read_and_still_does_the_others(tmp_path: Path, store: Store) -> None:
    good = make_maildir(tmp_path / "good")
    deliver(good, dsn("nobody@example.org", "77777777-aaaa-4bbb-8ccc-000000000001"))
    broken = account(tmp_path / "missing")
    fine = AccountConfig.model_validate({"name": "fine", "tenant": "t2", "maildir": good})
    config = Config(accounts=(broken, fine))

    with pytest.raises(BouncerError) as caught:
        await drain_all(config, PipelineCore(store, config))

    assert "could not read 1 of 2 folders" in str(caught.value)
    assert f"bounces/INBOX: maildir {tmp_path / 'missing'} is not a Maildir" in str(caught.value)
    assert len(await recorded(store)) == 1
    states = {s.account: s for s in await store.mailbox_states()}
    assert "is not a Maildir" in (states["bounces"].last_error or "")
