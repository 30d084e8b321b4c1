"""What to do about a failure of the IMAP client: the hint for each :class:`ImapError`.

Shared by ``bouncer check`` (a hint per failed step) and the daemon's alert mails.
"""

from __future__ import annotations

from bouncer.config import ImapConfig
from bouncer.hints import (
    Hint,
    connect_refused_hint,
    connect_timeout_hint,
    dns_hint,
    greeting_timeout_hint,
    missing_folder_hint,
    plain_port_with_tls_hint,
    reply_hint,
    starttls_unsupported_hint,
    tls_reason_hint,
)
from bouncer.sources.imap.connection import (
    FolderNotFound,
    ImapAuthError,
    ImapConnectError,
    ImapDnsError,
    ImapError,
    ImapTimeout,
    ImapTlsError,
)

_GENERIC_AUTH = Hint(
    "imap-auth-failed",
    "The server refused the username or password: check both (the username is often the full address), "
    "and whether the provider requires an app-specific password.",
)


def imap_error_hint(error: ImapError, server: ImapConfig) -> Hint | None:
    """The hint for an error of the IMAP client (also what the daemon puts in an alert mail)."""
    if isinstance(error, FolderNotFound):
        return missing_folder_hint(error.folder, [folder.name for folder in error.existing])
    if isinstance(error, ImapDnsError):
        return dns_hint(server.host)
    if isinstance(error, ImapConnectError):
        return connect_refused_hint(server.host, server.port)
    if isinstance(error, ImapTimeout):
        if error.step in ("dns", "tcp"):
            return connect_timeout_hint("imap", server.host, server.port)
        if error.step in ("greeting", "tls"):
            return greeting_timeout_hint("imap", server.port, server.security)
        return None
    if isinstance(error, ImapTlsError):
        if "STARTTLS" in str(error) and "offer" in str(error):
            return starttls_unsupported_hint("imap")
        if "WRONG_VERSION_NUMBER" in error.reason.upper():
            return plain_port_with_tls_hint("imap", server.port)
        if error.reason:
            return tls_reason_hint(error.reason, server.host, server.ca_file is not None)
        return None
    if isinstance(error, ImapAuthError):
        return reply_hint("imap", server.host, error.server_text) or _GENERIC_AUTH
    return None
