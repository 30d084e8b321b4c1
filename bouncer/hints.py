"""Known failures -> one sentence saying what to do.

Most configuration problems show up as a server reply that the provider words the same
way for everybody (Gmail's ``534 5.7.9 Application-specific password required``, Office
365's ``5.7.139 ... SmtpClientAuthentication is disabled``). The table below matches those
replies; the functions after it cover failures that have no reply to match (a port that
does not answer, a certificate that cannot be verified, a folder that is not there).

Each hint has a stable ``key`` (for tests, ``--json`` and documentation) and one sentence.
Hints never contain secrets: they are built from host names, ports, folder names and the
server's reply only.
"""

from __future__ import annotations

import difflib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Protocol = Literal["smtp", "imap"]

GMAIL_HOST = re.compile(r"(^|\.)(gmail|googlemail)\.com\.?$", re.IGNORECASE)
OFFICE365_HOST = re.compile(
    r"(^|\.)(office365\.com|outlook\.com|office\.com|hotmail\.com|live\.com)\.?$", re.IGNORECASE
)

GMAIL_LIMITS = (
    "Gmail sends about 2,000 messages a day through smtp.gmail.com and 10,000 recipients a day "
    "through smtp-relay.gmail.com (Google Workspace); past that it refuses mail for 24 hours."
)


@dataclass(frozen=True, slots=True)
class Hint:
    key: str  # stable identifier, e.g. "gmail-app-password"
    text: str  # one sentence saying what to do


@dataclass(frozen=True, slots=True)
class _ReplyRule:
    key: str
    protocols: frozenset[Protocol]
    reply: re.Pattern[str]  # searched in "<code> <reply text>"
    host: re.Pattern[str] | None  # None: any server
    text: str


_SMTP = frozenset[Protocol]({"smtp"})
_IMAP = frozenset[Protocol]({"imap"})
_BOTH = frozenset[Protocol]({"smtp", "imap"})

_O365_SMTP_AUTH_OFF = (
    "Authenticated SMTP is switched off for this mailbox or the whole tenant, or the account is a shared "
    "mailbox that cannot log in: a Microsoft 365 administrator must enable SMTP AUTH for it "
    "(Exchange admin center > the mailbox > Manage email apps > Authenticated SMTP), or use OAuth2."
)

_GMAIL_CREDENTIALS = (
    "Google refused the username or password: check them, and if the account has 2-step verification "
    "use a 16-character app password (a Google Workspace account may need its administrator to allow "
    "2-step verification first; Workspace domains are advised to use smtp-relay.gmail.com). " + GMAIL_LIMITS
)
_O365_IMAP_OAUTH2 = (
    "Microsoft has switched off password logins for IMAP in Exchange Online: this account needs OAuth2 "
    "(an app registration with IMAP.AccessAsApp or IMAP.AccessAsUser.All), a password will not work."
)

# Order matters: the first rule that matches wins, so specific rules come before generic ones.
_REPLY_RULES: tuple[_ReplyRule, ...] = (
    _ReplyRule(
        "gmail-app-password",
        _BOTH,
        re.compile(r"application-specific password required|5\.7\.9\b.*password", re.IGNORECASE),
        None,
        "This Google account uses 2-step verification and needs a 16-character app password "
        "(myaccount.google.com > Security > App passwords) instead of its normal password; a Google Workspace "
        "account may need its domain administrator to allow 2-step verification first, and Workspace domains "
        "are advised to use smtp-relay.gmail.com. " + GMAIL_LIMITS,
    ),
    _ReplyRule(
        "gmail-bad-credentials",
        _BOTH,
        re.compile(r"username and password not accepted|badcredentials|invalid credentials", re.IGNORECASE),
        GMAIL_HOST,
        _GMAIL_CREDENTIALS,
    ),
    _ReplyRule(
        "gmail-bad-credentials",
        _SMTP,
        re.compile(r"^535\b.*5\.7\.8\b.*username and password not accepted", re.IGNORECASE),
        None,
        _GMAIL_CREDENTIALS,
    ),
    _ReplyRule(
        "office365-smtp-auth-disabled",
        _SMTP,
        re.compile(r"5\.7\.139\b|smtpclientauthentication is disabled", re.IGNORECASE),
        None,
        _O365_SMTP_AUTH_OFF,
    ),
    _ReplyRule(
        "office365-smtp-auth-disabled",
        _SMTP,
        re.compile(r"5\.7\.57\b|client was not authenticated to send anonymous mail", re.IGNORECASE),
        None,
        _O365_SMTP_AUTH_OFF,
    ),
    _ReplyRule(
        "office365-smtp-auth-disabled",
        _SMTP,
        re.compile(r"^535\b.*5\.7\.3\b|5\.7\.3 authentication unsuccessful", re.IGNORECASE),
        None,
        _O365_SMTP_AUTH_OFF,
    ),
    _ReplyRule(
        "office365-imap-oauth2",
        _IMAP,
        re.compile(r"authenticate failed|login failed", re.IGNORECASE),
        OFFICE365_HOST,
        _O365_IMAP_OAUTH2,
    ),
    # Exchange's exact wording, for a custom host name that points at Exchange Online; Dovecot,
    # Courier and Cyrus word their failures differently ("[AUTHENTICATIONFAILED] ...").
    _ReplyRule(
        "office365-imap-oauth2",
        _IMAP,
        re.compile(r"^(NO )?(AUTHENTICATE|LOGIN) failed\.?$"),
        None,
        _O365_IMAP_OAUTH2,
    ),
    _ReplyRule(
        "smtp-auth-failed",
        _SMTP,
        re.compile(r"^535\b|authentication (failed|unsuccessful|credentials invalid)", re.IGNORECASE),
        None,
        "The server refused the username or password: check both (the username is often the full address), "
        "and whether the provider requires an app-specific password.",
    ),
    _ReplyRule(
        "imap-auth-failed",
        _IMAP,
        re.compile(r"\[AUTHENTICATIONFAILED\]|authentication failed|invalid credentials|login failed", re.IGNORECASE),
        None,
        "The server refused the username or password: check both (the username is often the full address), "
        "and whether the provider requires an app-specific password.",
    ),
    _ReplyRule(
        "smtp-must-starttls",
        _SMTP,
        re.compile(r"^530\b.*(starttls|5\.7\.0 must issue)", re.IGNORECASE),
        None,
        "The server wants encryption before anything else: set security: starttls (port 587) or security: tls "
        "(port 465).",
    ),
    _ReplyRule(
        "smtp-relay-denied",
        _SMTP,
        re.compile(r"relay access denied|relaying denied|5\.7\.1\b.*relay", re.IGNORECASE),
        None,
        "The server refuses to relay to this recipient for an unauthenticated client: configure username and "
        "password, or ask its administrator to allow this host to relay.",
    ),
    _ReplyRule(
        "smtp-sender-rejected",
        _SMTP,
        re.compile(r"send ?as|sender address rejected|not owned by user|5\.7\.60\b", re.IGNORECASE),
        None,
        "The server does not let this login send as from_address: use the login's own address as "
        "from_address, or have the administrator grant it Send As rights for that address.",
    ),
)


def reply_hint(protocol: Protocol, host: str, reply: str, code: int | None = None) -> Hint | None:
    """The hint for a server's reply (``code`` is the SMTP reply code, None for IMAP), or None."""
    text = f"{code} {reply}" if code is not None else reply
    text = " ".join(text.split())  # multi-line replies arrive with newlines between their lines
    for rule in _REPLY_RULES:
        if protocol not in rule.protocols:
            continue
        if rule.host is not None and not rule.host.search(host):
            continue
        if rule.reply.search(text):
            return Hint(rule.key, rule.text)
    return None


# --- failures without a reply -------------------------------------------------------

_TLS_PORT: dict[Protocol, int] = {"smtp": 465, "imap": 993}
_STARTTLS_PORT: dict[Protocol, int] = {"smtp": 587, "imap": 143}
_STANDARD_PORTS = "IMAP: 993 with security: tls or 143 with starttls; SMTP: 587 with starttls or 465 with tls"


def dns_hint(host: str) -> Hint:
    return Hint(
        "dns-unknown-host",
        f"The host name {host} does not resolve: check its spelling, or the DNS of the machine bouncer runs on.",
    )


def connect_timeout_hint(protocol: Protocol, host: str, port: int) -> Hint:
    if protocol == "smtp" and port == 25:
        return Hint(
            "smtp-port-25-blocked",
            "Port 25 is often blocked by hosting and cloud providers for outgoing connections: use port 587 "
            "with security: starttls (or 465 with security: tls).",
        )
    return Hint(
        "connect-timeout",
        f"Nothing answered at {host} port {port}: check the host and port ({_STANDARD_PORTS}) and that no "
        "firewall blocks outgoing connections to it.",
    )


def connect_refused_hint(host: str, port: int) -> Hint:
    return Hint(
        "connect-refused",
        f"{host} refused connections on port {port}: check the port ({_STANDARD_PORTS}).",
    )


def greeting_timeout_hint(protocol: Protocol, port: int, security: str) -> Hint:
    """The TCP connection opened but the server said nothing: often TLS expected from the first byte."""
    if security != "tls" and port in (465, 993, 995):
        return Hint(
            "expects-implicit-tls",
            f"Port {port} expects TLS from the first byte: set security: tls for it, or use the STARTTLS port "
            f"({_STARTTLS_PORT[protocol]}) with security: starttls.",
        )
    return Hint(
        "no-greeting",
        "The server accepted the connection but sent no greeting in time: check that this port serves "
        f"{protocol.upper()} and that security matches it ({_STANDARD_PORTS}).",
    )


def plain_port_with_tls_hint(protocol: Protocol, port: int) -> Hint:
    """The client spoke TLS and the server answered in plain text (wrong version number)."""
    return Hint(
        "no-implicit-tls",
        f"Port {port} does not speak TLS from the first byte: set security: starttls for it, or use port "
        f"{_TLS_PORT[protocol]} with security: tls.",
    )


def starttls_unsupported_hint(protocol: Protocol) -> Hint:
    return Hint(
        "starttls-unsupported",
        "The server does not offer STARTTLS on this port: use security: tls with port "
        f"{_TLS_PORT[protocol]}, or ask its administrator to enable STARTTLS.",
    )


def smtp_auth_not_offered_hint(security: str) -> Hint:
    if security == "none":
        return Hint(
            "smtp-auth-needs-tls",
            "The server offers no login on an unencrypted connection: set security: starttls (port 587) or "
            "security: tls (port 465).",
        )
    return Hint(
        "smtp-auth-not-offered",
        "The server offers no login (AUTH) on this port: use the submission port 587 with security: starttls, "
        "or remove username and password if it is a relay that trusts this host.",
    )


def tls_verify_hint(error: ssl.SSLCertVerificationError, host: str, has_ca_file: bool) -> Hint:
    """What to do about a certificate that did not verify (by OpenSSL's verify code)."""
    return tls_reason_hint(error.verify_message or str(error), host, has_ca_file, error.verify_code)


def tls_reason_hint(message: str, host: str, has_ca_file: bool, code: int | None = None) -> Hint:
    """The same, from OpenSSL's explanation alone (``self-signed certificate``, ``Hostname mismatch``...)."""
    untrusted = ("self-signed", "self signed", "local issuer", "issuer certificate")
    if code in (18, 19, 20, 21, 2) or any(marker in message for marker in untrusted):
        extra = " (the ca_file given does not sign it)" if has_ca_file else ""
        return Hint(
            "tls-untrusted",
            f"The certificate of {host} is not signed by a trusted authority (self-signed or a private CA){extra}: "
            "save the CA certificate as a PEM file and set ca_file to it; bouncer never turns verification off.",
        )
    if code in (62, 64) or "mismatch" in message.lower() or "doesn't match" in message:
        return Hint(
            "tls-name-mismatch",
            f"The certificate is not issued for {host}: set host to a name the certificate covers "
            "(often the provider's own host name rather than your domain, and never an IP address).",
        )
    if code == 10 or "expired" in message:
        return Hint(
            "tls-expired",
            f"The certificate of {host} has expired: its administrator must renew it.",
        )
    return Hint(
        "tls-invalid",
        f"The certificate of {host} could not be verified ({message}): fix the server's certificate, "
        "or set ca_file if it comes from a private CA.",
    )


def tls_expiry_hint(host: str, days_left: int) -> Hint:
    return Hint(
        "tls-expires-soon",
        f"The certificate of {host} expires in {days_left} days: make sure it is renewed, or bouncer will "
        "stop connecting then.",
    )


def missing_folder_hint(folder: str, existing: Sequence[str]) -> Hint:
    """A configured folder is not on the server: name the closest existing ones."""
    close = difflib.get_close_matches(folder, existing, n=3, cutoff=0.4)
    # Gmail keeps its system folders under "[Gmail]/" (or "[Google Mail]/" in some countries):
    # "Spam" is "[Gmail]/Spam", so also suggest folders whose last part matches.
    leaf = folder.rsplit("/", 1)[-1].lower()
    close += [name for name in existing if name.rsplit("/", 1)[-1].lower() == leaf and name not in close]
    listed = ", ".join(existing[:20]) + (", ..." if len(existing) > 20 else "")
    suggestion = f"did you mean {' or '.join(repr(n) for n in close[:3])}? " if close else ""
    return Hint(
        "folder-missing",
        f"The folder {folder!r} does not exist: {suggestion}the account has: {listed or '(no folders)'}.",
    )


def missing_processed_folder_hint(folder: str) -> Hint:
    return Hint(
        "processed-folder-missing",
        f"The processed_folder {folder!r} does not exist yet: run bouncer check --fix to create it "
        "(or create it in a mail client).",
    )


def sender_mismatch_hint(host: str, username: str | None, from_address: str) -> Hint | None:
    """Gmail and Office 365 refuse or rewrite a From that is not the login's own address."""
    if not username or username.strip().lower() == from_address.strip().lower():
        return None
    if GMAIL_HOST.search(host):
        provider = "Gmail rewrites the sender to the login's address unless it is a verified 'Send mail as' alias"
    elif OFFICE365_HOST.search(host):
        provider = "Office 365 refuses it (554 5.2.252 SendAsDenied) unless the login has Send As rights for it"
    else:
        return None
    return Hint(
        "sender-differs-from-login",
        f"from_address {from_address} differs from the login {username}: {provider}; use the login's "
        "address as from_address or grant that right.",
    )
