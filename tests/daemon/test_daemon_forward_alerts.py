"""`bouncer run` forwarding people's mail and sending alert mails, against the real servers.

The daemon runs in-process (serve()) on a YAML file, so SIGHUP reloads work; mail goes out
through the harness's real Postfix into the real Dovecot and is read back from there.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import signal
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import deliver, dsn, files, make_maildir, personal
from servers import Dovecot, MailUser, Postfix, free_port
from sqlalchemy import text

import bouncer.daemon
from bouncer.alerts import FolderAlerts
from bouncer.config import Config, load_config
from bouncer.daemon import serve
from bouncer.store import Store

pytestmark = pytest.mark.integration


def imap_settings(dovecot: Dovecot, user: MailUser, password: str | None = None) -> dict[str, Any]:
    return {
        "host": dovecot.tls_host,
        "port": dovecot.imaps_port,
        "security": "tls",
        "username": user.address,
        "password": password if password is not None else user.password,
        "ca_file": str(dovecot.ca_file),
        "timeout": 10,
    }


def write_config(path: Path, postfix: Postfix, account: dict[str, Any], **extra: Any) -> Path:
    smtp_port = extra.pop("smtp_port", postfix.smtp_port)
    settings = {
        "database": {"url": f"sqlite+aiosqlite:///{path.parent / 'bouncer.db'}"},
        "smtp": {
            "system": {
                "host": postfix.host,
                "port": smtp_port,
                "security": "none",
                "from_address": f"bouncer@{postfix.domain}",
                "timeout": 5,
            }
        },
        "accounts": [{"tenant": "test", **account}],
        **extra,
    }
    path.write_text(json.dumps(settings))  # JSON is YAML
    return path


def start(config_file: Path, store: Store) -> asyncio.Task[int]:
    return asyncio.create_task(serve(load_config(config_file), config_file, store))


async def stop(task: asyncio.Task[int]) -> int:
    os.kill(os.getpid(), signal.SIGTERM)
    return await asyncio.wait_for(task, 10.0)


async def eventually(condition: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while not (result := await condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.1)
    return result


async def mailbox(dovecot: Dovecot, user: MailUser, folder: str = "INBOX") -> list[EmailMessage]:
    if folder != "INBOX" and folder not in await asyncio.to_thread(dovecot.folders, user):
        return []
    found = await asyncio.to_thread(dovecot.messages, user, folder)
    messages = [email.message_from_bytes(raw, policy=policy.default) for _, (_, raw) in sorted(found.items())]
    return [m for m in messages if isinstance(m, EmailMessage)]


async def forward_rows(store: Store) -> list[dict[str, Any]]:
    async with store.engine.connect() as connection:
        result = await connection.execute(
            text(
                "select id, kind, forward_to, forward_started_at, forwarded_at, forward_error, disposed_at"
                " from inbound_messages order by id"
            )
        )
        return [dict(row._mapping) for row in result]


def attached_original(forward: EmailMessage) -> bytes:
    parts = [part for part in forward.iter_attachments() if part.get_content_type() == "message/rfc822"]
    assert len(parts) == 1, [p.get_content_type() for p in forward.iter_parts()]
    inner = parts[0].get_content()
    return bytes(inner.as_bytes(policy=policy.SMTP))


async def test_a_persons_reply_is_forwarded_once_then_moved_and_bounces_are_not_forwarded(
    tmp_path: Path, store: Store, dovecot: Dovecot, postfix: Postfix, new_mail_user: Callable[..., MailUser]
) -> None:
    bounces, staff = new_mail_user(), new_mail_user()
    token = os.urandom(4).hex()
    reply = personal(f"anna-{token}@example.org", f"Please unsubscribe me {token}")
    await asyncio.to_thread(dovecot.append, bounces, "INBOX", dsn(f"gone-{token}@example.org", f"{token}-key"))
    account = {"name": "bounces", "imap": imap_settings(dovecot, bounces), "forward_other_to": staff.address}
    config_file = write_config(tmp_path / "bouncer.yaml", postfix, account)

    daemon = start(config_file, store)
    await eventually(lambda: mailbox(dovecot, bounces, "Processed"), 10, "the bounce moved")
    await asyncio.sleep(0.5)  # idling: the forward finishes while the watcher waits in IDLE
    await asyncio.to_thread(dovecot.append, bounces, "INBOX", reply)
    (forward,) = await eventually(lambda: mailbox(dovecot, staff), 20, "the forward delivered")
    assert forward["Subject"] == "Fwd: Re: Butlleti de novembre"
    assert forward["Reply-To"] == f"anna-{token}@example.org"
    assert forward["Auto-Submitted"] == "auto-forwarded"
    assert f"Please unsubscribe me {token}".encode() in attached_original(forward)

    async def both_moved() -> bool:
        return not await mailbox(dovecot, bounces) and len(await mailbox(dovecot, bounces, "Processed")) == 2

    # The forward's disposition is applied as soon as it is finished (the watcher is nudged
    # out of IDLE), not at the next reconnect.
    await eventually(both_moved, 5, "the reply and the bounce moved to Processed")
    rows = await forward_rows(store)
    by_kind = {r["kind"]: r for r in rows}
    assert len(rows) == 2 and by_kind["bounce"]["forward_to"] is None
    assert by_kind["not_bounce"]["forward_to"] == staff.address
    assert by_kind["not_bounce"]["forwarded_at"] is not None and by_kind["not_bounce"]["disposed_at"] is not None
    assert await stop(daemon) == 0

    # A restart forwards nothing again.
    daemon = start(config_file, store)
    await asyncio.sleep(3)
    assert await stop(daemon) == 0
    assert len(await mailbox(dovecot, staff)) == 1


async def test_an_smtp_refusal_keeps_the_message_in_the_inbox_until_smtp_works(
    tmp_path: Path, store: Store, dovecot: Dovecot, postfix: Postfix, new_mail_user: Callable[..., MailUser]
) -> None:
    bounces, staff = new_mail_user(), new_mail_user()
    token = os.urandom(4).hex()
    await asyncio.to_thread(dovecot.append, bounces, "INBOX", personal(f"joan-{token}@example.org", token))
    account = {"name": "bounces", "imap": imap_settings(dovecot, bounces), "forward_other_to": staff.address}
    config_file = write_config(tmp_path / "bouncer.yaml", postfix, account, smtp_port=free_port())  # nothing there

    daemon = start(config_file, store)

    async def refused() -> list[dict[str, Any]]:
        return [r for r in await forward_rows(store) if r["forward_error"]]

    (row,) = await eventually(refused, 15, "the refused forward recorded")
    assert row["forwarded_at"] is None and row["forward_started_at"] is None  # released: retried later
    assert "refused" in row["forward_error"] or "connect" in row["forward_error"]
    await asyncio.sleep(1)
    assert len(await mailbox(dovecot, bounces)) == 1 and not await mailbox(dovecot, staff)

    # SMTP fixed: a reload retries at once (the timer would, within minutes).
    write_config(config_file, postfix, account)
    os.kill(os.getpid(), signal.SIGHUP)
    (forward,) = await eventually(lambda: mailbox(dovecot, staff), 20, "the forward delivered after the fix")
    assert token.encode() in attached_original(forward)
    await eventually(lambda: mailbox(dovecot, bounces, "Processed"), 5, "the message moved")
    assert not await mailbox(dovecot, bounces)
    (row,) = await forward_rows(store)
    assert row["forwarded_at"] is not None and row["forward_error"] is None
    assert await stop(daemon) == 0
    assert len(await mailbox(dovecot, staff)) == 1


async def test_a_failing_folder_sends_one_alert_then_one_recovery_mail(
    tmp_path: Path,
    store: Store,
    dovecot: Dovecot,
    postfix: Postfix,
    new_mail_user: Callable[..., MailUser],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bounces, ops = new_mail_user(), new_mail_user()
    # One mail per folder per hour, shortened to 8 s so that the recovery mail comes within the test.
    limit = 8.0
    real_alerts_for = bouncer.daemon.alerts_for

    def short_limit(config: Config) -> FolderAlerts | None:
        alerts = real_alerts_for(config)
        if alerts is not None:
            alerts.min_interval = limit
        return alerts

    monkeypatch.setattr(bouncer.daemon, "alerts_for", short_limit)
    alerts = {"to": [ops.address], "after": "2s"}
    wrong = f"wrong-{os.urandom(4).hex()}"
    account = {"name": "bounces", "imap": imap_settings(dovecot, bounces, password=wrong)}
    config_file = write_config(tmp_path / "bouncer.yaml", postfix, account, alerts=alerts)

    started = time.monotonic()
    daemon = start(config_file, store)
    (alert,) = await eventually(lambda: mailbox(dovecot, ops), 20, "the alert mail")
    alert_at = time.monotonic()
    assert alert_at - started >= 2.0  # not before `after`
    assert alert["Subject"] == "[bouncer] bounces/INBOX is failing"
    body = alert.get_body(("plain",))
    assert body is not None
    text_body = body.get_content()
    assert "Last error:" in text_body and wrong not in text_body  # the error, never the secret

    # Still failing: nothing more. Then the password is fixed and the watcher recovers.
    await asyncio.sleep(1.5)
    write_config(config_file, postfix, {**account, "imap": imap_settings(dovecot, bounces)}, alerts=alerts)
    os.kill(os.getpid(), signal.SIGHUP)

    async def recovered() -> bool:
        return any(state.last_ok_at is not None for state in await store.mailbox_states())

    await eventually(recovered, 3, "the watcher logged in with the fixed password")
    await asyncio.sleep(max(0.0, alert_at + limit / 2 - time.monotonic()))
    assert len(await mailbox(dovecot, ops)) == 1  # the recovery waits for the per-folder limit

    mails = await eventually(lambda: _at_least(mailbox(dovecot, ops), 2), limit + 15, "the recovery mail")
    assert [m["Subject"] for m in mails] == [
        "[bouncer] bounces/INBOX is failing",
        "[bouncer] bounces/INBOX recovered",
    ]
    assert await stop(daemon) == 0


async def _at_least(messages: Any, count: int) -> list[EmailMessage] | None:
    found: list[EmailMessage] = await messages
    return found if len(found) >= count else None


async def test_a_forward_claimed_by_a_crashed_process_is_never_resent_and_is_reported(
    tmp_path: Path,
    store: Store,
    dovecot: Dovecot,
    postfix: Postfix,
    new_mail_user: Callable[..., MailUser],
    capsys: pytest.CaptureFixture[str],
) -> None:
    bounces, staff = new_mail_user(), new_mail_user()
    token = os.urandom(4).hex()
    await asyncio.to_thread(dovecot.append, bounces, "INBOX", personal(f"marta-{token}@example.org", token))
    account = {"name": "bounces", "imap": imap_settings(dovecot, bounces), "forward_other_to": staff.address}
    config_file = write_config(tmp_path / "bouncer.yaml", postfix, account, smtp_port=free_port())
    daemon = start(config_file, store)

    async def refused() -> list[dict[str, Any]]:
        return [r for r in await forward_rows(store) if r["forward_error"]]

    (row,) = await eventually(refused, 15, "the refused forward recorded")
    assert await stop(daemon) == 0
    # A process that claimed the forward and died before finishing it: it may have been sent.
    assert await store.claim_forward(row["id"])

    write_config(config_file, postfix, account)  # SMTP works now
    capsys.readouterr()
    daemon = start(config_file, store)
    await asyncio.sleep(3)
    assert await stop(daemon) == 0
    logged = capsys.readouterr()
    assert "forward_in_doubt" in logged.out + logged.err  # where the logs go depends on earlier tests
    assert not await mailbox(dovecot, staff)
    assert len(await mailbox(dovecot, bounces)) == 1  # left in place for a person to decide


async def test_once_forwards_and_then_disposes_of_what_it_forwarded(
    tmp_path: Path, store: Store, dovecot: Dovecot, postfix: Postfix, new_mail_user: Callable[..., MailUser]
) -> None:
    bounces, staff = new_mail_user(), new_mail_user()
    token = os.urandom(4).hex()
    await asyncio.to_thread(dovecot.append, bounces, "INBOX", personal(f"pau-{token}@example.org", token))
    account = {"name": "bounces", "imap": imap_settings(dovecot, bounces), "forward_other_to": staff.address}
    config_file = write_config(tmp_path / "bouncer.yaml", postfix, account)
    assert await serve(load_config(config_file), config_file, store, once=True) == 0
    assert not await mailbox(dovecot, bounces) and len(await mailbox(dovecot, bounces, "Processed")) == 1
    (forward,) = await eventually(lambda: mailbox(dovecot, staff), 20, "the forward delivered")
    assert token.encode() in attached_original(forward)
    assert await serve(load_config(config_file), config_file, store, once=True) == 0
    await asyncio.sleep(1)
    assert len(await mailbox(dovecot, staff)) == 1


async def test_a_maildir_account_forwards_too_and_moves_the_message_once_forwarded(
    tmp_path: Path, store: Store, dovecot: Dovecot, postfix: Postfix, new_mail_user: Callable[..., MailUser]
) -> None:
    staff = new_mail_user()
    inbox = make_maildir(tmp_path / "mail")
    token = os.urandom(4).hex()
    account = {"name": "local", "maildir": str(inbox), "forward_other_to": staff.address}
    daemon = start(write_config(tmp_path / "bouncer.yaml", postfix, account), store)
    await asyncio.sleep(0.5)
    deliver(inbox, personal(f"nuria-{token}@example.org", token))
    (forward,) = await eventually(lambda: mailbox(dovecot, staff), 20, "the forward delivered")
    assert token.encode() in attached_original(forward)

    async def moved() -> bool:
        return not files(inbox) and len(files(inbox / ".Processed")) == 1

    await eventually(moved, 5, "the message moved to .Processed")
    assert await stop(daemon) == 0
