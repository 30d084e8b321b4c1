"""FolderWatcher against the real private Dovecot; the sink is an in-memory Pipeline (tests only)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import structlog
from servers import (
    Dovecot,
    MailUser,
    Postfix,
    account_config,
    imap_config,
    send_campaign_mail_async,
    simple_mail,
    wait_for,
)

from bouncer.sources.base import Checkpoint, Disposition, FetchedMessage, Handled, PendingDisposition
from bouncer.sources.imap.connection import FolderNotFound, ImapSession, open_imap
from bouncer.sources.imap.watcher import DispositionError, FolderWatcher, WatcherOptions, backoff_delay

pytestmark = pytest.mark.integration

FAST = WatcherOptions(batch_size=10, backoff_initial=0.1, backoff_max=0.5)


class MemoryPipeline:
    """Records by sha256 like the real store: one record per message, whatever happens."""

    def __init__(self, decide: Callable[[FetchedMessage], Disposition] = lambda m: "move") -> None:
        self.decide = decide
        self.records: dict[str, int] = {}  # sha256 -> inbound id
        self.handled: list[FetchedMessage] = []  # every message handed over, duplicates included
        self.checkpoints: dict[tuple[str, str], Checkpoint] = {}
        self.pending: dict[int, PendingDisposition] = {}
        self.acknowledged_ids: list[int] = []
        self.failures: list[str] = []
        self.oks = 0
        self.crash_after_commit = False
        self.arrival: dict[int, float] = {}  # uid -> monotonic time it was handled

    async def checkpoint(self, account: str, folder: str) -> Checkpoint | None:
        return self.checkpoints.get((account, folder))

    async def handle(self, batch: Sequence[FetchedMessage]) -> Sequence[Handled]:
        results = []
        for message in batch:
            digest = hashlib.sha256(message.raw).hexdigest()
            inbound_id = self.records.setdefault(digest, len(self.records) + 1)
            disposition = self.decide(message)
            self.handled.append(message)
            self.arrival.setdefault(message.uid or 0, time.monotonic())
            assert message.uid is not None and message.uidvalidity is not None
            self.pending[inbound_id] = PendingDisposition(
                inbound_id, message.uid, message.uidvalidity, message.name, disposition
            )
            key = (message.account, message.folder)
            last = self.checkpoints.get(key)
            if last is None or last.uidvalidity != message.uidvalidity or last.last_uid < message.uid:
                self.checkpoints[key] = Checkpoint(message.uidvalidity, message.uid)
            results.append(Handled(inbound_id, disposition))
        if self.crash_after_commit:
            raise RuntimeError("simulated crash after the commit")
        return results

    async def pending_dispositions(self, account: str, folder: str) -> Sequence[PendingDisposition]:
        return list(self.pending.values())

    async def acknowledged(self, account: str, folder: str, inbound_ids: Sequence[int]) -> None:
        for inbound_id in inbound_ids:
            self.pending.pop(inbound_id, None)
        self.acknowledged_ids.extend(inbound_ids)

    async def folder_ok(self, account: str, folder: str) -> None:
        self.oks += 1

    async def folder_failed(self, account: str, folder: str, error: str, hint: str | None = None) -> None:
        self.failures.append(error)


def _fill(dovecot: Dovecot, user: MailUser, count: int, folder: str = "INBOX") -> list[bytes]:
    raws = [simple_mail(f"message {i}", body=f"body {i}\n") for i in range(count)]
    for raw in raws:
        dovecot.append(user, folder, raw)
    return raws


async def test_backlog_is_processed_in_order_in_batches_and_moved(dovecot: Dovecot, mail_user: MailUser) -> None:
    raws = _fill(dovecot, mail_user, 25)
    pipeline = MemoryPipeline()
    account = account_config(dovecot, mail_user)
    await FolderWatcher(account, "INBOX", pipeline, options=FAST).run_once()

    assert [m.raw for m in pipeline.handled] == raws
    assert [m.uid for m in pipeline.handled] == sorted(m.uid or 0 for m in pipeline.handled)
    assert all(m.tenant == "test" and m.folder == "INBOX" and not m.truncated for m in pipeline.handled)
    assert all(m.received_at is not None and m.size == len(m.raw) for m in pipeline.handled)
    assert pipeline.pending == {} and sorted(pipeline.acknowledged_ids) == list(range(1, 26))
    assert dovecot.messages(mail_user, "INBOX") == {}
    assert sorted(raw for _, raw in dovecot.messages(mail_user, "Processed").values()) == sorted(raws)
    assert pipeline.oks == 1

    # A second pass finds nothing new: the checkpoint holds.
    await FolderWatcher(account, "INBOX", pipeline, options=FAST).run_once()
    assert len(pipeline.handled) == 25


async def test_people_mail_keeps_its_flags_exactly(dovecot: Dovecot, mail_user: MailUser) -> None:
    unread = dovecot.append(mail_user, "INBOX", simple_mail("unread"))
    flagged = dovecot.append(mail_user, "INBOX", simple_mail("flagged"), flags="\\Flagged")
    pipeline = MemoryPipeline(decide=lambda m: "none")
    await FolderWatcher(account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST).run_once()

    assert len(pipeline.handled) == 2
    after = dovecot.messages(mail_user, "INBOX")
    assert set(after) == {unread, flagged}
    assert "\\Seen" not in after[unread][0] and "\\Seen" not in after[flagged][0]
    assert "\\Flagged" in after[flagged][0]
    assert "Processed" not in dovecot.folders(mail_user)  # nothing to move: not even created


async def test_dispose_modes(dovecot: Dovecot, mail_user: MailUser) -> None:
    choice = {b"seen": "seen", b"delete": "delete", b"keep": "keep", b"move": "move"}
    for word in choice:
        dovecot.append(mail_user, "INBOX", simple_mail(word.decode()))

    def decide(message: FetchedMessage) -> Disposition:
        subject = message.raw.split(b"Subject: ")[1].split(b"\r\n")[0]
        return choice[subject]  # type: ignore[return-value]

    pipeline = MemoryPipeline(decide)
    account = account_config(dovecot, mail_user, processed_folder="Bounces/Done")
    await FolderWatcher(account, "INBOX", pipeline, options=FAST).run_once()

    left = {
        raw.split(b"Subject: ")[1].split(b"\r\n")[0]: flags
        for flags, raw in dovecot.messages(mail_user, "INBOX").values()
    }
    assert set(left) == {b"seen", b"keep"}
    assert "\\Seen" in left[b"seen"] and "\\Seen" not in left[b"keep"]
    moved = dovecot.messages(mail_user, "Bounces/Done")
    assert [b"move" in raw for _, raw in moved.values()] == [True]


async def test_move_falls_back_to_copy_and_expunge_without_move(dovecot: Dovecot, mail_user: MailUser) -> None:
    raws = _fill(dovecot, mail_user, 3)
    sessions: list[ImapSession] = []

    async def connect_without_move(*args: Any, **kwargs: Any) -> ImapSession:
        session = await open_imap(*args, **kwargs)
        session.capabilities = session.capabilities - {"MOVE"}  # as a server without RFC 6851
        sessions.append(session)
        return session

    pipeline = MemoryPipeline()
    watcher = FolderWatcher(
        account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST, connect=connect_without_move
    )
    await watcher.run_once()
    assert sessions and not sessions[0].has("MOVE")
    assert dovecot.messages(mail_user, "INBOX") == {}
    assert sorted(raw for _, raw in dovecot.messages(mail_user, "Processed").values()) == sorted(raws)


async def test_pending_dispositions_are_reapplied_after_a_crash(dovecot: Dovecot, mail_user: MailUser) -> None:
    raws = _fill(dovecot, mail_user, 4)
    pipeline = MemoryPipeline()
    pipeline.crash_after_commit = True  # recorded, then the process "dies" before disposing
    account = account_config(dovecot, mail_user)
    with pytest.raises(RuntimeError, match="simulated crash"):
        await FolderWatcher(account, "INBOX", pipeline, options=FAST).run_once()
    assert len(pipeline.pending) == 4 and len(dovecot.messages(mail_user, "INBOX")) == 4
    assert pipeline.failures and "simulated crash" in pipeline.failures[0]

    pipeline.crash_after_commit = False
    handled_before = len(pipeline.handled)
    await FolderWatcher(account, "INBOX", pipeline, options=FAST).run_once()
    assert len(pipeline.handled) == handled_before  # nothing fetched again: the checkpoint is past them
    assert pipeline.pending == {}
    assert dovecot.messages(mail_user, "INBOX") == {}
    assert len(dovecot.messages(mail_user, "Processed")) == len(raws)


async def test_uidvalidity_change_triggers_a_rescan(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.create_folder(mail_user, "Bounces")
    raws = _fill(dovecot, mail_user, 2, folder="Bounces")
    pipeline = MemoryPipeline(decide=lambda m: "keep")
    account = account_config(dovecot, mail_user, folders=("Bounces",))
    await FolderWatcher(account, "Bounces", pipeline, options=FAST).run_once()
    first_validity = dovecot.uidvalidity(mail_user, "Bounces")
    assert len(pipeline.handled) == 2

    # The folder is recreated (a server migration does this): same UIDs, new UIDVALIDITY.
    with dovecot.session(mail_user) as client:
        client.delete("Bounces")
    await asyncio.sleep(1.1)  # Dovecot's UIDVALIDITY is a timestamp
    dovecot.create_folder(mail_user, "Bounces")
    for raw in raws:
        dovecot.append(mail_user, "Bounces", raw)
    assert dovecot.uidvalidity(mail_user, "Bounces") != first_validity

    await FolderWatcher(account, "Bounces", pipeline, options=FAST).run_once()
    assert len(pipeline.handled) == 4  # both seen again...
    assert len(pipeline.records) == 2  # ...and still one record each
    assert pipeline.checkpoints[(account.name, "Bounces")].uidvalidity == dovecot.uidvalidity(mail_user, "Bounces")


async def test_oversized_message_is_fetched_as_its_header(dovecot: Dovecot, mail_user: MailUser) -> None:
    big = simple_mail("big", body="y" * 8000 + "\n")
    dovecot.append(mail_user, "INBOX", big)
    pipeline = MemoryPipeline(decide=lambda m: "keep")
    account = account_config(dovecot, mail_user, max_message_bytes=4096)
    await FolderWatcher(account, "INBOX", pipeline, options=FAST).run_once()
    (message,) = pipeline.handled
    assert message.truncated and message.size == len(big)
    assert b"Subject: big" in message.raw and b"yyyy" not in message.raw


async def test_folder_by_special_use_and_missing_folder(dovecot: Dovecot, mail_user: MailUser) -> None:
    raws = _fill(dovecot, mail_user, 1, folder="Junk")
    pipeline = MemoryPipeline()
    await FolderWatcher(account_config(dovecot, mail_user), "\\Junk", pipeline, options=FAST).run_once()
    assert [m.raw for m in pipeline.handled] == raws
    assert pipeline.handled[0].folder == "\\Junk"

    with pytest.raises(FolderNotFound):
        await FolderWatcher(account_config(dovecot, mail_user), "Rebotes", pipeline, options=FAST).run_once()
    assert "'Rebotes' does not exist. Existing folders:" in pipeline.failures[-1]
    assert "INBOX" in pipeline.failures[-1] and "Junk" in pipeline.failures[-1]


async def test_idle_delivers_new_mail_quickly_and_stops_promptly(dovecot: Dovecot, mail_user: MailUser) -> None:
    pipeline = MemoryPipeline()
    watcher = FolderWatcher(account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST)
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.status.state == "idle", timeout=10)
        latencies = []
        for i in range(3):
            sent = time.monotonic()
            uid = await asyncio.to_thread(dovecot.append, mail_user, "INBOX", simple_mail(f"news {i}"))
            await wait_for(lambda uid=uid: uid in pipeline.arrival, timeout=5, interval=0.01)
            latencies.append(pipeline.arrival[uid] - sent)
        assert max(latencies) < 2.0, latencies
        await wait_for(lambda: watcher.status.processed == 3, timeout=5)
        assert dovecot.messages(mail_user, "INBOX") == {} and watcher.status.last_ok is not None
    finally:
        started = time.monotonic()
        watcher.request_stop()
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 2.0
    assert watcher.status.state == "stopped"


async def test_polling_without_idle(dovecot: Dovecot, mail_user: MailUser) -> None:
    pipeline = MemoryPipeline()
    account = account_config(dovecot, mail_user, poll_interval=0.3)
    watcher = FolderWatcher(account, "INBOX", pipeline, options=dataclasses.replace(FAST, use_idle=False))
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.status.state == "polling", timeout=10)
        uid = await asyncio.to_thread(dovecot.append, mail_user, "INBOX", simple_mail("polled"))
        await wait_for(lambda: uid in pipeline.arrival, timeout=5)
    finally:
        watcher.request_stop()
        await asyncio.wait_for(task, 5)


async def test_server_restart_mid_run_reconnects_and_catches_up(running_dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot = running_dovecot
    pipeline = MemoryPipeline()
    watcher = FolderWatcher(account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST)
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.status.state == "idle", timeout=10)
        await asyncio.to_thread(dovecot.stop)
        await wait_for(lambda: watcher.status.state == "backoff", timeout=5)
        assert pipeline.failures and watcher.status.last_error and watcher.status.next_retry
        # Mail keeps arriving while the IMAP server is down (the MDA writes the Maildir).
        missed = simple_mail("while down")
        dovecot.drop_into_maildir(mail_user, missed)
        await asyncio.to_thread(dovecot.start)
        await wait_for(lambda: any(m.raw == missed for m in pipeline.handled), timeout=10)
        await wait_for(lambda: watcher.status.state == "idle" and watcher.status.last_error is None, timeout=5)
        uid = await asyncio.to_thread(dovecot.append, mail_user, "INBOX", simple_mail("after restart"))
        await wait_for(lambda: uid in pipeline.arrival, timeout=5)
        assert len(dovecot.messages(mail_user, "Processed")) >= 1
    finally:
        watcher.request_stop()
        await asyncio.wait_for(task, 5)


async def test_refused_login_is_logged_once_and_retried(dovecot: Dovecot, mail_user: MailUser) -> None:
    account = account_config(dovecot, mail_user, imap=imap_config(dovecot, mail_user, password="wrong-password"))
    pipeline = MemoryPipeline()
    with structlog.testing.capture_logs() as logs:
        watcher = FolderWatcher(account, "INBOX", pipeline, options=dataclasses.replace(FAST, backoff_max=0.2))
        task = asyncio.create_task(watcher.run())
        try:
            await wait_for(lambda: len(pipeline.failures) >= 3, timeout=10)
            assert watcher.status.state in ("failed", "connecting")
        finally:
            watcher.request_stop()
            await asyncio.wait_for(task, 5)
    refused = [entry for entry in logs if entry["event"] == "imap_login_refused"]
    assert len(refused) == 1 and "hint" in refused[0]
    assert all("wrong-password" not in str(entry) for entry in logs)
    assert watcher.status.failures >= 3 and watcher.status.state == "stopped"
    assert watcher.status.last_error and "AUTHENTICATIONFAILED" in watcher.status.last_error


async def test_stop_does_not_wait_for_a_slow_connection(dovecot: Dovecot, mail_user: MailUser) -> None:
    # A server that accepts TCP but never greets: the connection hangs until the timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        imap = imap_config(dovecot, mail_user, "none", port=silent.getsockname()[1], timeout=60)
        watcher = FolderWatcher(account_config(dovecot, mail_user, imap=imap), "INBOX", MemoryPipeline(), options=FAST)
        task = asyncio.create_task(watcher.run())
        await wait_for(lambda: watcher.status.state == "connecting", timeout=5)
        await asyncio.sleep(0.3)
        assert watcher.status.state == "connecting"  # still waiting for the greeting
        started = time.monotonic()
        watcher.request_stop()
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 1.0 and watcher.status.state == "stopped"


async def test_stop_during_a_backlog_finishes_the_batch_in_hand(dovecot: Dovecot, mail_user: MailUser) -> None:
    _fill(dovecot, mail_user, 60)
    pipeline = MemoryPipeline()
    watcher = FolderWatcher(account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST)
    task = asyncio.create_task(watcher.run())
    await wait_for(lambda: len(pipeline.handled) >= 5, timeout=10, interval=0.005)
    watcher.request_stop()
    await asyncio.wait_for(task, 5)
    assert pipeline.pending == {}  # whatever was recorded was also disposed and acknowledged
    assert len(dovecot.messages(mail_user, "Processed")) == len(pipeline.handled)
    assert len(dovecot.messages(mail_user, "INBOX")) == 60 - len(pipeline.handled)


async def test_cancellation_also_lets_the_batch_finish(dovecot: Dovecot, mail_user: MailUser) -> None:
    _fill(dovecot, mail_user, 40)
    pipeline = MemoryPipeline()
    watcher = FolderWatcher(account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST)
    task = asyncio.create_task(watcher.run())
    await wait_for(lambda: len(pipeline.handled) >= 1, timeout=10, interval=0.002)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert pipeline.pending == {}
    assert len(dovecot.messages(mail_user, "INBOX")) == 40 - len(pipeline.handled)


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    first = [backoff_delay(0) for _ in range(50)]
    assert all(0.5 <= d <= 1.0 for d in first) and len(set(first)) > 1
    assert all(150 <= backoff_delay(20) <= 300 for _ in range(50))
    assert 4 <= backoff_delay(3) <= 8


async def test_postfix_bounce_reaches_the_watcher_within_two_seconds(
    dovecot: Dovecot, postfix: Postfix, mail_user: MailUser
) -> None:
    """SMTP acceptance -> Postfix DSN -> LMTP -> IDLE push -> pipeline, timed."""
    pipeline = MemoryPipeline()
    watcher = FolderWatcher(account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST)
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.status.state == "idle", timeout=10)
        latencies = []
        for i in range(3):
            before = len(pipeline.handled)
            sent = time.monotonic()
            await send_campaign_mail_async(
                postfix.smtp_port, f"gone-{i}@{postfix.domain}", f"tracker-{i}", mail_user.address
            )
            await wait_for(lambda before=before: len(pipeline.handled) > before, timeout=5, interval=0.01)
            latencies.append(time.monotonic() - sent)
        dsn = pipeline.handled[-1].raw
        assert b"multipart/report" in dsn and b"X-CampTrackID: tracker-2" in dsn
        assert max(latencies) < 2.0, latencies
    finally:
        watcher.request_stop()
        await asyncio.wait_for(task, 5)


class SlowFlakyPipeline(MemoryPipeline):
    """A pipeline whose commits take time and that is down for a while (a database outage)."""

    def __init__(self, events: list[tuple[str, int]], down_for: float = 0.0) -> None:
        super().__init__()
        self.events = events
        self.down_until = time.monotonic() + down_for

    async def handle(self, batch: Sequence[FetchedMessage]) -> Sequence[Handled]:
        await asyncio.sleep(0.02)
        if time.monotonic() < self.down_until:
            raise ConnectionRefusedError("database unavailable")
        results = await super().handle(batch)
        self.events.extend(("recorded", m.uid or 0) for m in batch)
        return results


async def test_records_come_before_dispositions_and_a_database_outage_loses_nothing(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    raws = _fill(dovecot, mail_user, 35)
    events: list[tuple[str, int]] = []

    async def logging_connect(*args: Any, **kwargs: Any) -> ImapSession:
        session = await open_imap(*args, **kwargs)
        move = session.move

        async def logged_move(uids: Sequence[int], destination: str) -> None:
            events.extend(("moved", uid) for uid in uids)
            await move(uids, destination)

        session.move = logged_move  # type: ignore[method-assign]
        return session

    pipeline = SlowFlakyPipeline(events, down_for=1.0)
    watcher = FolderWatcher(
        account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST, connect=logging_connect
    )
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.status.processed == 35, timeout=20)
    finally:
        watcher.request_stop()
        await asyncio.wait_for(task, 5)
    assert pipeline.failures and "database unavailable" in pipeline.failures[0]
    assert len(pipeline.records) == 35 and pipeline.pending == {}
    position = {event: index for index, event in enumerate(events)}
    for uid in {uid for _, uid in events}:
        assert position[("recorded", uid)] < position[("moved", uid)]
    assert sorted(raw for _, raw in dovecot.messages(mail_user, "Processed").values()) == sorted(raws)


async def test_moving_into_the_watched_folder_is_refused(dovecot: Dovecot, mail_user: MailUser) -> None:
    _fill(dovecot, mail_user, 1)
    pipeline = MemoryPipeline()
    account = account_config(dovecot, mail_user, processed_folder="INBOX")
    with pytest.raises(DispositionError, match="watched folder itself"):
        await FolderWatcher(account, "INBOX", pipeline, options=FAST).run_once()
    assert len(dovecot.messages(mail_user, "INBOX")) == 1


async def test_cancelled_while_idle_still_logs_out(dovecot: Dovecot, mail_user: MailUser) -> None:
    watcher = FolderWatcher(account_config(dovecot, mail_user), "INBOX", MemoryPipeline(), options=FAST)
    task = asyncio.create_task(watcher.run())
    await wait_for(lambda: watcher.status.state == "idle", timeout=10)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 2.0

    def logged_out() -> bool:
        lines = [line for line in dovecot.log.read_text().splitlines() if f"imap({mail_user.address})" in line]
        return bool(lines) and "Logged out" in lines[-1]

    await wait_for(logged_out, timeout=5)


async def test_a_message_expunged_by_someone_else_mid_batch_is_skipped(dovecot: Dovecot, mail_user: MailUser) -> None:
    raws = _fill(dovecot, mail_user, 5)

    async def connect_then_expunge(*args: Any, **kwargs: Any) -> ImapSession:
        session = await open_imap(*args, **kwargs)
        search = session.search_uids

        async def search_then_someone_deletes(first_uid: int = 1) -> list[int]:
            uids = await search(first_uid)
            if uids:  # a person deletes the third message between our SEARCH and FETCH
                with dovecot.session(mail_user) as other:
                    other.select("INBOX")
                    other.uid("STORE", str(uids[2]), "+FLAGS", "(\\Deleted)")
                    other.expunge()
            return uids

        session.search_uids = search_then_someone_deletes  # type: ignore[method-assign]
        return session

    pipeline = MemoryPipeline()
    watcher = FolderWatcher(
        account_config(dovecot, mail_user), "INBOX", pipeline, options=FAST, connect=connect_then_expunge
    )
    await watcher.run_once()
    assert [m.raw for m in pipeline.handled] == raws[:2] + raws[3:]
    assert dovecot.messages(mail_user, "INBOX") == {}
