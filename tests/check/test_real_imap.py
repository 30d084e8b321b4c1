"""The IMAP steps of `bouncer check` against the harness's real Dovecot (and Postfix).

Every step must be OK (exit 0) on a correct configuration; a wrong password, a wrong
port, an untrusted certificate and a missing folder must each exit non-zero with the
matching hint. Office 365's "AUTHENTICATE failed", which Dovecot cannot say, comes from a
scripted IMAP peer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from imap_peer import ScriptedExchangeImap
from servers import Dovecot, MailUser, Postfix, free_port, simple_mail, wait_for

import bouncer.check.net
from bouncer.check import collect
from bouncer.check.result import Report, Status
from bouncer.cli import main
from bouncer.config import Config

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _short_lived_test_certificates(monkeypatch: pytest.MonkeyPatch) -> None:
    # The harness's CA and certificate are valid for 2 days, which a real deployment should
    # hear about (WARN below 14 days); here it would hide whether everything else is OK.
    monkeypatch.setattr(bouncer.check.net, "EXPIRY_WARNING_DAYS", 1)


def imap_settings(dovecot: Dovecot, user: MailUser, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "host": "localhost",
        "port": dovecot.imaps_port,
        "security": "tls",
        "username": user.address,
        "password": user.password,
        "ca_file": str(dovecot.ca_file),
        "timeout": 10,
    }
    settings.update(overrides)
    return {key: value for key, value in settings.items() if value is not None}


def make_config(
    dovecot: Dovecot, user: MailUser, postfix: Postfix | None = None, *, account: Any = None, **imap: Any
) -> Config:
    document: dict[str, Any] = {
        "accounts": [
            {"name": "bounces", "tenant": "acme", "imap": imap_settings(dovecot, user, **imap), **(account or {})}
        ]
    }
    if postfix is not None:
        document["smtp"] = {
            "system": {
                "host": postfix.host,
                "port": postfix.smtp_port,
                "security": "none",
                "from_address": f"bouncer@{postfix.domain}",
                "timeout": 10,
            }
        }
    return Config.model_validate(document)


def only_failure(report: Report) -> tuple[str, str | None, str]:
    failures = [s for s in report.steps if s.status is Status.FAIL]
    assert len(failures) == 1, report.to_table()
    return failures[0].name, failures[0].hint.key if failures[0].hint else None, failures[0].detail


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_every_step_ok_against_dovecot_and_postfix(
    dovecot: Dovecot, postfix: Postfix, new_mail_user: Any, security: str
) -> None:
    user, recipient = new_mail_user(), new_mail_user()
    dovecot.create_folder(user, "Processed")
    dovecot.append(user, "INBOX", simple_mail("one"))
    dovecot.append(user, "INBOX", simple_mail("two"))
    port = dovecot.imaps_port if security == "tls" else dovecot.imap_port
    config = make_config(dovecot, user, postfix, security=security, port=port, account={"folders": ["INBOX", "\\Junk"]})
    report = await collect(config, send_test=recipient.address)
    assert all(s.status is Status.OK for s in report.steps), report.to_table()
    assert report.exit_code == 0
    names = [s.name for s in report.steps if s.target.startswith("account")]
    connection = ["dns", "tcp", "tls", "greeting"] if security == "tls" else ["dns", "tcp", "greeting", "starttls"]
    expected = [*connection, "login", "capabilities", "folders", "folder INBOX", "folder \\Junk", "processed folder"]
    assert names == expected
    details = {s.name: s.detail for s in report.steps if s.target.startswith("account")}
    assert details["folder INBOX"].startswith("2 messages")
    assert details["folder \\Junk"].startswith("\\Junk is Junk: 0 messages")
    assert "IDLE, MOVE, UIDPLUS, SPECIAL-USE" in details["capabilities"]
    assert "certificate for localhost valid until" in details["tls" if security == "tls" else "starttls"]
    assert user.password not in report.to_table() + report.to_json()
    # The test message went through the real Postfix into the recipient's real mailbox.
    delivered = await wait_for(lambda: dovecot.messages(recipient, "INBOX"), timeout=20)
    (_, raw), *_ = delivered.values()
    assert b"Subject: bouncer test message (smtp system)" in raw


async def test_wrong_password(dovecot: Dovecot, mail_user: MailUser) -> None:
    report = await collect(make_config(dovecot, mail_user, password="not-the-password"))
    step, hint, detail = only_failure(report)
    assert (step, hint) == ("login", "imap-auth-failed")
    assert "AUTHENTICATIONFAILED" in detail
    assert report.exit_code == 1
    assert "not-the-password" not in report.to_table() + report.to_json()


async def test_wrong_port(dovecot: Dovecot, mail_user: MailUser) -> None:
    report = await collect(make_config(dovecot, mail_user, port=free_port()))
    assert only_failure(report)[:2] == ("tcp", "connect-refused")


async def test_plain_port_with_tls(dovecot: Dovecot, mail_user: MailUser) -> None:
    report = await collect(make_config(dovecot, mail_user, port=dovecot.imap_port, security="tls"))
    assert only_failure(report)[:2] == ("tls", "no-implicit-tls")


async def test_untrusted_certificate(dovecot: Dovecot, mail_user: MailUser) -> None:
    report = await collect(make_config(dovecot, mail_user, ca_file=None))
    step, hint, _ = only_failure(report)
    assert (step, hint) == ("tls", "tls-untrusted")


async def test_missing_folder_lists_the_existing_ones(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.create_folder(mail_user, "Processed")
    config = make_config(dovecot, mail_user, account={"folders": ["INBOX", "junk", "Bounces"]})
    report = await collect(config)
    failures = [s for s in report.steps if s.status is Status.FAIL]
    assert [s.name for s in failures] == ["folder junk", "folder Bounces"]  # each folder is checked
    junk = failures[0]
    assert junk.hint is not None and junk.hint.key == "folder-missing"
    assert "did you mean 'Junk'" in junk.hint.text and "Sent" in junk.hint.text
    assert report.steps[-1].name == "processed folder" and report.steps[-1].status is Status.OK
    assert report.exit_code == 1


async def test_processed_folder_created_only_with_fix(dovecot: Dovecot, mail_user: MailUser) -> None:
    config = make_config(dovecot, mail_user)
    report = await collect(config)
    assert only_failure(report)[:2] == ("processed folder", "processed-folder-missing")
    assert "Processed" not in dovecot.folders(mail_user)  # check changed nothing
    fixed = await collect(config, fix=True)
    assert fixed.passed, fixed.to_table()
    assert "Processed" in dovecot.folders(mail_user)
    assert (await collect(config)).passed


def test_cli_json_against_dovecot(
    dovecot: Dovecot, mail_user: MailUser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dovecot.create_folder(mail_user, "Processed")
    (tmp_path / "password").write_text(mail_user.password)
    config = tmp_path / "bouncer.yaml"
    config.write_text(
        f"""
accounts:
  - name: bounces
    tenant: acme
    imap:
      host: localhost
      port: {dovecot.imaps_port}
      username: {mail_user.address}
      password_file: password
      ca_file: {dovecot.ca_file}
"""
    )
    assert main(["check", "-c", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    document = json.loads(out)
    assert document["passed"] is True and document["counts"]["FAIL"] == 0
    assert {s["step"] for s in document["steps"]} >= {"dns", "tcp", "tls", "login", "folder INBOX"}
    assert mail_user.password not in out
    assert main(["check", "-c", str(config), "--json", "--account", "bounces"]) == 0


async def test_office365_refuses_passwords_for_imap(peer_tls: Any) -> None:
    peer = await ScriptedExchangeImap(peer_tls.server_context()).start()
    try:
        config = Config.model_validate(
            {
                "accounts": [
                    {
                        "name": "o365",
                        "tenant": "acme",
                        "imap": {
                            "host": "localhost",
                            "port": peer.port,
                            "username": "bounces@example.org",
                            "password": "Correct-Password-1",
                            "ca_file": str(peer_tls.ca),
                            "timeout": 5,
                        },
                    }
                ]
            }
        )
        report = await collect(config)
    finally:
        await peer.stop()
    step, hint, detail = only_failure(report)
    assert (step, hint) == ("login", "office365-imap-oauth2")
    assert "LOGIN failed." in detail
    assert "Correct-Password-1" not in report.to_table() + report.to_json()
    assert peer.commands.count("LOGIN") + peer.commands.count("AUTHENTICATE") == 1  # one try, no retries


def test_cli_prints_every_step_ok_then_the_hint_for_a_wrong_password(
    dovecot: Dovecot, postfix: Postfix, new_mail_user: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user, recipient = new_mail_user(), new_mail_user()
    dovecot.create_folder(user, "Processed")

    def write_config(password: str) -> Path:
        path = tmp_path / "bouncer.yaml"
        path.write_text(
            f"""
database:
  url: sqlite+aiosqlite:///{tmp_path / "bouncer.db"}
accounts:
  - name: bounces
    tenant: acme
    imap:
      host: localhost
      port: {dovecot.imap_port}
      security: starttls
      username: {user.address}
      password: "{password}"
      ca_file: {dovecot.ca_file}
smtp:
  system:
    host: {postfix.host}
    port: {postfix.smtp_port}
    security: none
    from_address: bouncer@{postfix.domain}
"""
        )
        return path

    assert main(["check", "-c", str(write_config(user.password)), "--send-test", recipient.address]) == 0
    out = capsys.readouterr().out
    statuses = re.findall(r"^  \S.*?\s{2,}(OK|WARN|FAIL)\s+\d+ ms", out, re.MULTILINE)
    assert statuses == ["OK"] * 18, out  # database 2, IMAP 10, SMTP 6 (with the test message)
    assert out.rstrip().splitlines()[-1] == "all checks passed: 18 OK, 0 WARN, 0 FAIL"
    assert user.password not in out

    assert main(["check", "-c", str(write_config("Wrong-Password-9"))]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^  login\s+FAIL\s", out, re.MULTILINE), out
    assert "hint: The server refused the username or password" in " ".join(out.split())
    assert "Wrong-Password-9" not in out
