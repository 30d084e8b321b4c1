"""bouncer.sources.imap.connection against the real private Dovecot."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from servers import Dovecot, MailUser, free_port, imap_config, simple_mail, wait_for

from bouncer.sources.imap.connection import (
    FolderNotFound,
    ImapAuthError,
    ImapConnectError,
    ImapConnectionLost,
    ImapDnsError,
    ImapSession,
    ImapTimeout,
    ImapTlsError,
    Step,
    decode_folder_name,
    encode_folder_name,
    open_imap,
    uid_set,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("security", "expected_steps"),
    [
        ("tls", ["dns", "tcp", "tls", "greeting", "login"]),
        ("starttls", ["dns", "tcp", "greeting", "starttls", "login"]),
        ("none", ["dns", "tcp", "greeting", "login"]),
    ],
)
async def test_connects_and_logs_in_with_each_security_mode(
    dovecot: Dovecot, mail_user: MailUser, security: str, expected_steps: list[str]
) -> None:
    steps: list[Step] = []
    session = await open_imap(imap_config(dovecot, mail_user, security), on_step=steps.append)
    try:
        assert [s.name for s in steps] == expected_steps
        assert all(s.seconds >= 0 for s in steps)
        for capability in ("IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE"):
            assert session.has(capability)
        assert "STARTTLS" not in session.capabilities or security == "none"
        assert (session.tls_version is not None) == (security != "none")
        assert session.usable
    finally:
        await session.logout()
    assert not session.usable


async def test_untrusted_certificate_is_refused_with_the_reason(dovecot: Dovecot, mail_user: MailUser) -> None:
    with pytest.raises(ImapTlsError) as caught:
        await open_imap(imap_config(dovecot, mail_user, "tls", ca_file=None))
    assert "not trusted" in str(caught.value) and "ca_file" in str(caught.value)
    assert caught.value.step == "tls" and caught.value.reason

    with pytest.raises(ImapTlsError) as caught:
        await open_imap(imap_config(dovecot, mail_user, "starttls", ca_file=None))
    assert caught.value.step == "starttls"


async def test_host_name_is_checked(dovecot: Dovecot, mail_user: MailUser) -> None:
    with pytest.raises(ImapTlsError, match=r"mismatch|doesn't match|not valid for"):
        await open_imap(imap_config(dovecot, mail_user, "tls", host="127.0.0.1"))


async def test_wrong_password_is_an_auth_error_with_the_server_text(dovecot: Dovecot, mail_user: MailUser) -> None:
    with pytest.raises(ImapAuthError) as caught:
        await open_imap(imap_config(dovecot, mail_user, "tls", password="not-the-password"))
    assert "AUTHENTICATIONFAILED" in caught.value.server_text
    assert "not-the-password" not in str(caught.value)
    assert not caught.value.transient


async def test_refused_port_and_unknown_host(dovecot: Dovecot, mail_user: MailUser) -> None:
    with pytest.raises(ImapConnectError) as refused:
        await open_imap(imap_config(dovecot, mail_user, "none", port=free_port()))
    assert refused.value.step == "tcp"
    with pytest.raises(ImapDnsError):
        await open_imap(imap_config(dovecot, mail_user, "tls", host="no-such-host.invalid"))


async def test_security_mode_mismatches_are_explained(dovecot: Dovecot, mail_user: MailUser) -> None:
    with pytest.raises(ImapTimeout, match=r"greeting.*security: tls") as silent:
        await open_imap(imap_config(dovecot, mail_user, "none", port=dovecot.imaps_port, timeout=1))
    assert silent.value.step == "greeting"
    with pytest.raises(ImapTlsError, match="does not speak TLS"):
        await open_imap(imap_config(dovecot, mail_user, "tls", port=dovecot.imap_port))


async def _session(dovecot: Dovecot, user: MailUser) -> ImapSession:
    return await open_imap(imap_config(dovecot, user))


async def test_folders_by_name_and_special_use(dovecot: Dovecot, mail_user: MailUser) -> None:
    session = await _session(dovecot, mail_user)
    try:
        await session.create_folder("Café/Entrée")
        await session.create_folder("Café/Entrée")  # exists already: fine
        folders = await session.list_folders()
        names = {f.name for f in folders}
        assert {"INBOX", "Junk", "Café/Entrée"} <= names
        assert await session.resolve_folder("\\Junk") == "Junk"
        assert await session.resolve_folder("inbox") == "INBOX"
        with pytest.raises(FolderNotFound) as missing:
            await session.resolve_folder("Bounces")
        assert "Junk" in str(missing.value) and "INBOX" in str(missing.value)
        with pytest.raises(FolderNotFound, match="Archive"):
            await session.select("Archive")
        selected = await session.select("Café/Entrée")
        assert selected.uidvalidity > 0 and selected.exists == 0 and not selected.read_only
        examined = await session.select("INBOX", read_only=True)  # what `bouncer check` uses
        assert examined.read_only and examined.uidvalidity > 0
    finally:
        await session.logout()


async def test_fetch_peeks_truncates_and_moves(dovecot: Dovecot, mail_user: MailUser) -> None:
    small = simple_mail("small")
    big = simple_mail("big", body="x" * 5000 + "\n")
    uids = [dovecot.append(mail_user, "INBOX", small), dovecot.append(mail_user, "INBOX", big)]
    session = await _session(dovecot, mail_user)
    try:
        selected = await session.select("INBOX")
        assert selected.exists == 2
        assert await session.search_uids(1) == uids
        assert await session.search_uids(uids[-1] + 1) == []
        messages = await session.fetch_messages(uids, max_bytes=2000)
        assert [m.uid for m in messages] == uids
        assert messages[0].raw == small and not messages[0].truncated
        assert messages[1].truncated and messages[1].size == len(big)
        assert messages[1].raw.endswith(b"\r\n\r\n") and b"xxxx" not in messages[1].raw
        assert messages[0].internaldate is not None
        flags = await session.fetch_flags(uids)
        assert all("\\Seen" not in f for f in flags.values())

        await session.create_folder("Processed")
        await session.move(uids[:1], "Processed")
        await session.copy_and_expunge(uids[1:], "Processed")
        assert await session.search_uids(1) == []
    finally:
        await session.logout()
    assert len(dovecot.messages(mail_user, "Processed")) == 2


async def test_idle_reports_new_mail_and_a_dropped_connection(running_dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot = running_dovecot
    session = await _session(dovecot, mail_user)
    try:
        await session.select("INBOX")
        assert await session.idle(max_seconds=0.3) == []  # nothing new: a quiet timeout, still usable
        assert session.usable
        waiting = asyncio.create_task(session.idle(max_seconds=10))
        await wait_for(session.client.protocol.has_pending_idle_command, timeout=10)
        await asyncio.to_thread(dovecot.append, mail_user, "INBOX", simple_mail())
        pushed = await asyncio.wait_for(waiting, 5)
        assert any(line.endswith(b"EXISTS") for line in pushed)
        assert (await session.noop()) is not None

        waiting = asyncio.create_task(session.idle(max_seconds=30))
        await wait_for(session.client.protocol.has_pending_idle_command, timeout=10)
        await asyncio.to_thread(dovecot.stop)
        with pytest.raises(ImapConnectionLost):
            await asyncio.wait_for(waiting, 5)
        assert not session.usable
    finally:
        await session.logout()


def test_folder_names_and_uid_sets() -> None:
    for name in ("INBOX", "Café/Entrée", "A&B", "日本語", "Spam & Junk"):
        assert decode_folder_name(encode_folder_name(name)) == name
    assert encode_folder_name("Entrée") == "Entr&AOk-e"
    assert encode_folder_name("A&B") == "A&-B"
    assert uid_set([5, 1, 2, 3, 9, 10, 7]) == "1:3,5,7,9:10"


async def test_a_frozen_server_times_out(dovecot: Dovecot, mail_user: MailUser) -> None:
    for i in range(3):
        dovecot.append(mail_user, "INBOX", simple_mail(f"m{i}"))
    session = await open_imap(imap_config(dovecot, mail_user, timeout=1))
    try:
        await session.select("INBOX")
        frozen = dovecot.imap_processes(mail_user)
        assert frozen
        for process in frozen:
            process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(ImapTimeout):
                await session.fetch_messages([1, 2, 3], 10**6)
            assert 0.9 < time.monotonic() - started < 3
            assert not session.usable
        finally:
            for process in frozen:
                process.send_signal(signal.SIGCONT)
    finally:
        await session.logout()


async def test_thousands_of_untagged_lines_in_one_response(dovecot: Dovecot, mail_user: MailUser) -> None:
    # MOVE of 2000 messages answers with 2000 "* n EXPUNGE" lines, arriving in large chunks.
    dovecot.fill_maildir(mail_user, [simple_mail(f"m{i}") for i in range(2000)])
    session = await _session(dovecot, mail_user)
    try:
        await session.select("INBOX")
        uids = await session.search_uids(1)
        assert len(uids) == 2000
        await session.create_folder("Processed")
        await session.move(uids, "Processed")
        assert session.usable
        assert await session.search_uids(1) == []
        await session.select("Processed")
        messages = await session.fetch_messages((await session.search_uids(1))[:250], 10**6)
        assert len(messages) == 250 and all(b"\r\nSubject: m" in m.raw for m in messages)
    finally:
        await session.logout()
