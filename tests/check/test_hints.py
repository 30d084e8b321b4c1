"""The hints table: providers' exact replies -> the right one-sentence advice."""

from __future__ import annotations

import ssl

import pytest

from bouncer.hints import (
    GMAIL_LIMITS,
    connect_timeout_hint,
    greeting_timeout_hint,
    missing_folder_hint,
    reply_hint,
    sender_mismatch_hint,
    tls_verify_hint,
)


@pytest.mark.parametrize(
    ("protocol", "host", "code", "reply", "key"),
    [
        # Gmail, SMTP: 2-step verification without an app password, and a wrong password.
        ("smtp", "smtp.gmail.com", 534, "5.7.9 Application-specific password required. Learn more at\n"
         "5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor x12-20020a170906 - gsmtp",
         "gmail-app-password"),
        ("smtp", "smtp.gmail.com", 535, "5.7.8 Username and Password not accepted. For more information, go to\n"
         "5.7.8  https://support.google.com/mail/?p=BadCredentials x12 - gsmtp", "gmail-bad-credentials"),
        # Gmail, IMAP.
        ("imap", "imap.gmail.com", None, "[ALERT] Application-specific password required: "
         "https://support.google.com/accounts/answer/185833 (Failure)", "gmail-app-password"),
        ("imap", "imap.gmail.com", None, "[AUTHENTICATIONFAILED] Invalid credentials (Failure)",
         "gmail-bad-credentials"),
        # Office 365, SMTP.
        ("smtp", "smtp.office365.com", 535, "5.7.3 Authentication unsuccessful "
         "[AM0PR02CA0001.eurprd02.prod.outlook.com]",
         "office365-smtp-auth-disabled"),
        ("smtp", "smtp.office365.com", 535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
         "disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
         "office365-smtp-auth-disabled"),
        ("smtp", "smtp.office365.com", 530, "5.7.57 SMTP; Client was not authenticated to send anonymous mail "
         "during MAIL FROM [VI1PR0102CA0065.eurprd01.prod.exchangelabs.com]", "office365-smtp-auth-disabled"),
        # Office 365, IMAP: passwords are off for good.
        ("imap", "outlook.office365.com", None, "AUTHENTICATE failed.", "office365-imap-oauth2"),
        ("imap", "outlook.office365.com", None, "LOGIN failed.", "office365-imap-oauth2"),
        ("imap", "mail.example.org", None, "AUTHENTICATE failed.", "office365-imap-oauth2"),
        ("imap", "mail.example.org", None, "LOGIN failed.", "office365-imap-oauth2"),
        ("imap", "mail.example.org", None, "Login failed.", "imap-auth-failed"),  # Courier's wording
        # Anybody else.
        ("smtp", "mail.example.org", 535, "5.7.8 Error: authentication failed: authentication failure",
         "smtp-auth-failed"),
        ("imap", "mail.example.org", None, "[AUTHENTICATIONFAILED] Authentication failed.", "imap-auth-failed"),
        ("smtp", "mail.example.org", 530, "5.7.0 Must issue a STARTTLS command first", "smtp-must-starttls"),
        ("smtp", "mail.example.org", 554, "5.7.1 <x@example.net>: Relay access denied", "smtp-relay-denied"),
        ("smtp", "smtp.office365.com", 554, "5.2.252 SendAsDenied; crm@example.org not allowed to send as "
         "news@example.org", "smtp-sender-rejected"),
    ],
)  # fmt: skip
def test_provider_replies(protocol: str, host: str, code: int | None, reply: str, key: str) -> None:
    hint = reply_hint(protocol, host, reply, code)  # type: ignore[arg-type]
    assert hint is not None and hint.key == key


def test_unrelated_replies_get_no_hint() -> None:
    assert reply_hint("smtp", "mail.example.org", "2.0.0 OK", 250) is None
    assert reply_hint("smtp", "mail.example.org", "4.7.0 Try again later, closing connection.", 421) is None
    # Dovecot's own wording must not be mistaken for Exchange's.
    assert reply_hint("imap", "mail.example.org", "[AUTHENTICATIONFAILED] Authentication failed.").key != (  # type: ignore[union-attr]
        "office365-imap-oauth2"
    )


def test_gmail_hints_carry_the_daily_limits() -> None:
    hint = reply_hint("smtp", "smtp.gmail.com", "5.7.9 Application-specific password required.", 534)
    assert hint is not None
    assert GMAIL_LIMITS in hint.text
    assert "2,000" in GMAIL_LIMITS and "10,000" in GMAIL_LIMITS and "smtp-relay.gmail.com" in GMAIL_LIMITS


def test_port_25_timeout_suggests_587() -> None:
    assert connect_timeout_hint("smtp", "mail.example.org", 25).key == "smtp-port-25-blocked"
    assert "587" in connect_timeout_hint("smtp", "mail.example.org", 25).text
    assert connect_timeout_hint("smtp", "mail.example.org", 587).key == "connect-timeout"
    assert connect_timeout_hint("imap", "mail.example.org", 25).key == "connect-timeout"


def test_greeting_timeout_on_an_implicit_tls_port() -> None:
    assert greeting_timeout_hint("smtp", 465, "starttls").key == "expects-implicit-tls"
    assert greeting_timeout_hint("imap", 993, "none").key == "expects-implicit-tls"
    assert greeting_timeout_hint("smtp", 2525, "starttls").key == "no-greeting"


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, message)
    error.verify_code = code
    error.verify_message = message
    return error


def test_tls_verify_hints_by_openssl_code() -> None:
    assert tls_verify_hint(_verify_error(18, "self-signed certificate"), "h", False).key == "tls-untrusted"
    assert tls_verify_hint(_verify_error(20, "unable to get local issuer certificate"), "h", False).key == (
        "tls-untrusted"
    )
    assert "ca_file" in tls_verify_hint(_verify_error(19, "self-signed certificate in chain"), "h", False).text
    assert tls_verify_hint(_verify_error(62, "Hostname mismatch"), "h", False).key == "tls-name-mismatch"
    assert tls_verify_hint(_verify_error(10, "certificate has expired"), "h", False).key == "tls-expired"


def test_missing_folder_lists_the_real_ones() -> None:
    existing = ["INBOX", "[Gmail]/All Mail", "[Gmail]/Spam", "[Gmail]/Trash", "Processed"]
    hint = missing_folder_hint("Spam", existing)
    assert hint.key == "folder-missing"
    assert "did you mean '[Gmail]/Spam'" in hint.text
    assert "[Gmail]/Trash" in hint.text  # every existing folder is listed
    no_match = missing_folder_hint("Bounces", ["INBOX"])
    assert "did you mean" not in no_match.text and "INBOX" in no_match.text


def test_sender_differing_from_login_on_gmail_and_office365() -> None:
    gmail = sender_mismatch_hint("smtp.gmail.com", "crm@example.org", "news@example.org")
    office = sender_mismatch_hint("smtp.office365.com", "crm@example.org", "news@example.org")
    assert gmail is not None and office is not None
    assert gmail.key == office.key == "sender-differs-from-login"
    assert "SendAsDenied" in office.text
    assert sender_mismatch_hint("smtp.gmail.com", "crm@example.org", "CRM@example.org") is None
    assert sender_mismatch_hint("mail.example.org", "crm@example.org", "news@example.org") is None
    assert sender_mismatch_hint("smtp.gmail.com", None, "news@example.org") is None
