"""The Maildir source and the disposition rule, end to end through the pipeline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from daemon_helpers import (
    MemoryStore,
    autoreply,
    complaint,
    deliver,
    dsn,
    files,
    make_maildir,
    personal,
    stand_in_analyse,
)

from bouncer.config import AccountConfig, Config
from bouncer.daemon import drain_all
from bouncer.errors import BouncerError
from bouncer.pipeline import PipelineCore
from bouncer.sources.maildir import MaildirWatcher, _list


def account(maildir: Path, **settings: object) -> AccountConfig:
    return AccountConfig.model_validate({"name": "bounces", "tenant": "t1", "maildir": maildir, **settings})


def core_for(store: MemoryStore, *accounts: AccountConfig) -> PipelineCore:
    return PipelineCore(store, Config(accounts=accounts), analyser=stand_in_analyse)


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


def names_by_kind(kinds: dict[str, str], wanted: set[str]) -> set[str]:
    return {name for name, kind in kinds.items() if kind in wanted}


def bases(found: dict[str, bytes]) -> set[str]:
    return {key.split("/", 1)[1].split(":", 1)[0] for key in found}


async def test_bounce_account_moves_failure_reports_and_leaves_the_rest_exactly_as_it_was(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "mail")
    kinds = mixed_inbox(inbox)
    left_alone = {
        k: v for k, v in files(inbox).items() if kinds[k.split("/")[1].split(":")[0]] in ("autoreply", "not_bounce")
    }
    store = MemoryStore()
    acct = account(inbox)

    count = await MaildirWatcher(acct, "INBOX", core_for(store, acct).for_account(acct)).drain()

    assert count == 5
    assert store.kinds() == ["autoreply", "bounce", "complaint", "delay", "not_bounce"]
    assert files(inbox) == left_alone  # same names (flags included), same bytes
    processed = files(inbox / ".Processed")
    assert bases(processed) == names_by_kind(kinds, {"bounce", "delay", "complaint"})
    assert all(key.startswith("new/") for key in processed)  # they were in new/, and stay unread there
    assert all(r.disposed for r in store.records.values() if r.item.disposition == "move")
    assert store.states[("bounces", "INBOX")] is None


async def test_group_account_touches_only_bounces(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "mail")
    kinds = mixed_inbox(inbox)
    store = MemoryStore()
    acct = account(inbox, role="group")

    await MaildirWatcher(acct, "INBOX", core_for(store, acct).for_account(acct)).drain()

    assert bases(files(inbox / ".Processed")) == names_by_kind(kinds, {"bounce"})
    assert bases(files(inbox)) == names_by_kind(kinds, {"delay", "complaint", "autoreply", "not_bounce"})
    assert len(store.records) == 5


@pytest.mark.parametrize("dispose", ["seen", "delete", "keep"])
async def test_dispose_settings(tmp_path: Path, dispose: str) -> None:
    inbox = make_maildir(tmp_path / "mail")
    bounce = deliver(inbox, dsn("nobody@example.org", "22222222-aaaa-4bbb-8ccc-000000000001"))
    person = deliver(inbox, personal("reader@example.org"))
    store = MemoryStore()
    acct = account(inbox, dispose=dispose)

    await MaildirWatcher(acct, "INBOX", core_for(store, acct).for_account(acct)).drain()

    after = files(inbox)
    assert f"new/{person}" in after  # a person's mail: untouched whatever the setting
    expected = {"seen": {f"cur/{bounce}:2,S"}, "delete": set(), "keep": {f"new/{bounce}"}}[dispose]
    assert set(after) - {f"new/{person}"} == expected
    assert not (inbox / ".Processed").exists()


async def test_seen_keeps_the_flags_a_mail_client_set(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "mail")
    bounce = deliver(inbox, dsn("nobody@example.org", "33333333-aaaa-4bbb-8ccc-000000000001"), subdir="cur", flags="F")
    acct = account(inbox, dispose="seen")
    await MaildirWatcher(acct, "INBOX", core_for(MemoryStore(), acct).for_account(acct)).drain()
    assert set(files(inbox)) == {f"cur/{bounce}:2,FS"}


async def test_a_second_pass_records_nothing_twice_and_reads_nothing_again(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "mail")
    mixed_inbox(inbox)
    store = MemoryStore()
    acct = account(inbox)
    watcher = MaildirWatcher(acct, "INBOX", core_for(store, acct).for_account(acct))
    assert await watcher.drain() == 5
    assert await watcher.drain() == 0  # what stayed in place is remembered
    # A new process reads what stayed in place once more; the store recognises it.
    assert await MaildirWatcher(acct, "INBOX", core_for(store, acct).for_account(acct)).drain() == 2
    assert len(store.records) == 5


async def test_oversized_message_is_recorded_from_its_header_and_left_in_place(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "mail")
    big = dsn("nobody@example.org", "44444444-aaaa-4bbb-8ccc-000000000001") + b"x" * 50_000
    name = deliver(inbox, big)
    store = MemoryStore()
    acct = account(inbox, max_message_bytes=10_000)

    await MaildirWatcher(acct, "INBOX", core_for(store, acct).for_account(acct)).drain()

    (record,) = store.records.values()
    assert record.item.message.truncated and record.item.message.size == len(big)
    assert record.item.message.raw.startswith(b"From: MAILER-DAEMON") and len(record.item.message.raw) < 1000
    assert "max_message_bytes" in (record.item.analysis.error or "")
    assert record.item.disposition == "none"
    assert set(files(inbox)) == {f"new/{name}"}


async def test_a_crash_between_record_and_move_is_finished_on_the_next_start(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "mail")
    name = deliver(inbox, dsn("nobody@example.org", "55555555-aaaa-4bbb-8ccc-000000000001"))
    store = MemoryStore()
    acct = account(inbox)
    pipeline = core_for(store, acct).for_account(acct)
    # The first run records the message and "dies" before it moves it.
    first = MaildirWatcher(acct, "INBOX", pipeline)
    await pipeline.handle(await asyncio.to_thread(first._read, _list(inbox)))
    assert set(files(inbox)) == {f"new/{name}"}

    await MaildirWatcher(acct, "INBOX", pipeline).drain()

    assert files(inbox) == {}
    assert set(files(inbox / ".Processed")) == {f"new/{name}"}
    assert len(store.records) == 1 and all(r.disposed for r in store.records.values())


async def test_other_folders_are_maildir_plus_plus_sub_folders(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail")
    junk = make_maildir(root / ".Junk.Bounces")
    name = deliver(junk, dsn("nobody@example.org", "66666666-aaaa-4bbb-8ccc-000000000001"))
    store = MemoryStore()
    acct = account(root, folders=["INBOX", "Junk/Bounces"], processed_folder="Done")
    await drain_all(Config(accounts=(acct,)), core_for(store, acct))
    assert set(files(root / ".Done")) == {f"new/{name}"}
    assert [r.item.message.folder for r in store.records.values()] == ["Junk/Bounces"]


async def test_once_names_the_folder_it_could_not_read_and_still_does_the_others(tmp_path: Path) -> None:
    good = make_maildir(tmp_path / "good")
    deliver(good, dsn("nobody@example.org", "77777777-aaaa-4bbb-8ccc-000000000001"))
    broken = account(tmp_path / "missing")
    fine = AccountConfig.model_validate({"name": "fine", "tenant": "t2", "maildir": good})
    store = MemoryStore()

    with pytest.raises(BouncerError) as caught:
        await drain_all(Config(accounts=(broken, fine)), core_for(store, broken, fine))

    assert "could not read 1 of 2 folders" in str(caught.value)
    assert f"bounces/INBOX: maildir {tmp_path / 'missing'} is not a Maildir" in str(caught.value)
    assert len(store.records) == 1
    assert "is not a Maildir" in (store.states[("bounces", "INBOX")] or "")
