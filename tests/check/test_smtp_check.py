"""`bouncer check` on SMTP servers that answer exactly as Gmail and Office 365 do.

Each failure must stop at the right step, exit non-zero, carry the provider's reply and
the matching hint, and never show the password.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from servers import free_port
from smtp_peer import PeerTls, SmtpScript, smtp_config

from bouncer.check import collect
from bouncer.check.result import Report, Status
from bouncer.cli import main

PASSWORD = "correct horse battery staple"

GMAIL_534 = (
    "534-5.7.9 Application-specific password required. Learn more at\n"
    "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d75a77b69052e-4b2f1a2c3d4sm123456qtb.12 - gsmtp"
)
GMAIL_535 = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a640c23a62f3a-ab7b1c2d3e4sm987654.77 - gsmtp"
)
O365_535_573 = "535 5.7.3 Authentication unsuccessful [AM0PR02CA0001.eurprd02.prod.outlook.com]"
O365_5139 = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
    "Visit https://aka.ms/smtp_auth_disabled for more information. [DB8PR04CA0012.eurprd04.prod.outlook.com]"
)
O365_5757 = (
    "530 5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful, "
    "SmtpClientAuthentication is disabled for the Mailbox. [PR3P191CA0012.EURP191.PROD.OUTLOOK.COM]"
)
O365_5757_ANONYMOUS = (
    "530 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM "
    "[VI1PR0102CA0065.eurprd01.prod.exchangelabs.com]"
)


def failed_step(report: Report) -> tuple[str, str, str | None]:
    failures = [s for s in report.steps if s.status is Status.FAIL]
    assert len(failures) == 1, report.to_table()
    step = failures[0]
    return step.name, step.detail, None if step.hint is None else step.hint.key


def assert_no_secret(text: str) -> None:
    import base64

    assert PASSWORD not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text
    assert base64.b64encode(f"\0crm@example.org\0{PASSWORD}".encode()).decode() not in text


async def test_every_step_ok_with_starttls_and_a_private_ca(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context()))
    config = smtp_config(peer.port, ca_file=str(peer_tls.ca))
    report = await collect(config, send_test="ops@example.net")
    assert [s.name for s in report.steps] == ["dns", "tcp", "greeting", "tls", "login", "sender", "send test"]
    assert all(s.status is Status.OK for s in report.steps), report.to_table()
    assert report.exit_code == 0
    tls = next(s for s in report.steps if s.name == "tls")
    assert "certificate for localhost valid until" in tls.detail
    assert peer.logins == [("crm@example.org", PASSWORD)]  # the real password reached the server...
    assert_no_secret(report.to_table() + report.to_json())  # ...and nowhere else
    assert len(peer.messages) == 1
    assert b"Subject: bouncer test message (smtp system)" in peer.messages[0]
    assert "queued as 1A2B3C" in report.steps[-1].detail


async def test_implicit_tls(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(
        SmtpScript(tls=peer_tls.server_context(), implicit_tls=True, extensions=("AUTH PLAIN", "8BITMIME"))
    )
    report = await collect(smtp_config(peer.port, security="tls", ca_file=str(peer_tls.ca)))
    assert report.passed, report.to_table()
    assert peer.logins == [("crm@example.org", PASSWORD)]


@pytest.mark.parametrize(
    ("reply", "hint"),
    [
        (GMAIL_534, "gmail-app-password"),
        (GMAIL_535, "gmail-bad-credentials"),
        (O365_535_573, "office365-smtp-auth-disabled"),
        (O365_5139, "office365-smtp-auth-disabled"),
        (O365_5757, "office365-smtp-auth-disabled"),
        ("535 5.7.8 Error: authentication failed: authentication failure", "smtp-auth-failed"),
    ],
)
async def test_refused_login_gets_the_providers_hint(scripted_smtp, peer_tls: PeerTls, reply: str, hint: str) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context(), auth_reply=reply))
    report = await collect(smtp_config(peer.port, ca_file=str(peer_tls.ca)))
    step, detail, key = failed_step(report)
    assert (step, key) == ("login", hint)
    assert reply.split("\n")[-1].split(" ", 2)[1] in detail  # the enhanced status code is shown
    assert report.exit_code == 1
    assert_no_secret(report.to_table() + report.to_json())


async def test_anonymous_sender_refused_by_office365(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context(), mail_reply=O365_5757_ANONYMOUS))
    config = smtp_config(peer.port, ca_file=str(peer_tls.ca), username=None, password=None)
    report = await collect(config, send_test="ops@example.net")
    step, detail, key = failed_step(report)
    assert (step, key) == ("send test", "office365-smtp-auth-disabled")
    assert "5.7.57" in detail


async def test_self_signed_certificate_needs_ca_file(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context(self_signed=True)))
    report = await collect(smtp_config(peer.port))
    step, detail, key = failed_step(report)
    assert (step, key) == ("tls", "tls-untrusted")
    assert "self-signed" in detail
    assert peer.logins == []  # no password goes out over an unverified connection


async def test_certificate_for_another_name(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context()))
    report = await collect(smtp_config(peer.port, host="127.0.0.1", ca_file=str(peer_tls.ca)))
    assert failed_step(report)[::2] == ("tls", "tls-name-mismatch")


async def test_a_ca_file_that_is_no_certificate_is_one_clear_failure(
    scripted_smtp, peer_tls: PeerTls, tmp_path: Path
) -> None:
    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("this is not a certificate\n")
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context()))
    report = await collect(smtp_config(peer.port, ca_file=str(not_a_ca)))
    step, detail, _ = failed_step(report)
    assert step == "tls" and f"cannot load ca_file {not_a_ca}" in detail
    assert peer.logins == []


async def test_private_ca_without_ca_file(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context()))
    report = await collect(smtp_config(peer.port))
    assert failed_step(report)[::2] == ("tls", "tls-untrusted")


async def test_closed_port() -> None:
    report = await collect(smtp_config(free_port()))
    assert failed_step(report)[::2] == ("tcp", "connect-refused")
    assert report.exit_code == 1


async def test_port_that_never_answers() -> None:
    """A listening socket with a full backlog drops new SYNs: the client sees a timeout, as with a firewall."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(0)
    port = blocker.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # fill the accept queue (nobody accepts)
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.2)
        report = await collect(smtp_config(port, timeout=1))
    finally:
        for filler in fillers:
            filler.close()
        blocker.close()
    step, _, key = failed_step(report)
    assert (step, key) in {("tcp", "connect-timeout"), ("greeting", "no-greeting")}, report.to_table()


async def test_server_that_never_greets(scripted_smtp) -> None:
    peer = await scripted_smtp(SmtpScript(greeting=None))
    report = await collect(smtp_config(peer.port, timeout=1))
    step, detail, key = failed_step(report)
    assert (step, key) == ("greeting", "no-greeting")
    assert "greeting" in detail


async def test_tls_spoken_to_a_plain_port(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context()))
    report = await collect(smtp_config(peer.port, security="tls", ca_file=str(peer_tls.ca)))
    assert failed_step(report)[::2] == ("greeting", "no-implicit-tls")


async def test_starttls_not_offered(scripted_smtp) -> None:
    peer = await scripted_smtp(SmtpScript(extensions=("AUTH PLAIN",)))
    report = await collect(smtp_config(peer.port))
    assert failed_step(report)[::2] == ("tls", "starttls-unsupported")


async def test_no_auth_offered(scripted_smtp, peer_tls: PeerTls) -> None:
    peer = await scripted_smtp(SmtpScript(tls=peer_tls.server_context(), extensions_after_tls=("8BITMIME",)))
    report = await collect(smtp_config(peer.port, ca_file=str(peer_tls.ca)))
    assert failed_step(report)[::2] == ("login", "smtp-auth-not-offered")


async def test_unknown_host_name() -> None:
    report = await collect(smtp_config(25, host="no-such-host.invalid"))
    assert failed_step(report)[::2] == ("dns", "dns-unknown-host")


def test_cli_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bouncer.yaml"
    config.write_text(
        f"""
smtp:
  system:
    host: localhost
    port: {free_port()}
    username: crm@example.org
    password: "{PASSWORD}"
    from_address: crm@example.org
    timeout: 5s
""",
        encoding="utf-8",
    )
    code = main(["check", "-c", str(config), "--json", "--account", "smtp.system"])
    out = capsys.readouterr().out
    assert code == 1
    document = json.loads(out)
    assert document["passed"] is False
    assert document["counts"] == {"OK": 1, "WARN": 0, "FAIL": 1}
    assert [(s["step"], s["status"]) for s in document["steps"]] == [("dns", "OK"), ("tcp", "FAIL")]
    tcp = document["steps"][1]
    assert tcp["target"].startswith("smtp system")
    assert tcp["hint"]["key"] == "connect-refused"
    assert isinstance(tcp["duration_ms"], float)
    assert_no_secret(out)


def test_cli_unknown_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bouncer.yaml"
    config.write_text("smtp:\n  system:\n    host: localhost\n    from_address: a@example.org\n")
    assert main(["check", "-c", str(config), "--account", "nope"]) == 1
    assert "no account or SMTP server named 'nope'; there are: smtp.system" in capsys.readouterr().err
