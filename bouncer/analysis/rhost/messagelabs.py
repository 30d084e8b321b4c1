"""Broadcom (Symantec) Email Security.cloud, formerly MessageLabs:
https://knowledge.broadcom.com/external/article/169652/email-error-and-bounce-codes-for-email-s.html."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".messagelabs.com",)
DOMAINS: tuple[str, ...] = ()
SIGNS = ("messagelabs.com", "symanteccloud.com")

_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("domain authentication fail", R.AUTHFAILURE),
    ("connection rejected by policy", R.BADREPUTATION),
    ("your ip is in the pbl", R.BLOCKED),
    ("your ip address has been", R.BLOCKED),
    ("stray linefeeds in message", R.CONTENTERROR),
    ("tls/sslv3 connection required", R.FAILEDSTARTTLS),
    (" as a relay, ", R.NORELAYING),
    ("has detected that this message is not rfc 5322", R.NOTCOMPLIANTRFC),
    ("sender envelope domain not allowed for sender ip address", R.REJECTED),
    ("your domain has been blocked", R.REJECTED),
    ("your email address has been blocked", R.REJECTED),
    ("your envelope sender is in my badmailfrom list", R.REJECTED),
    ("has been blacklisted", R.REJECTED),
    ("please turn on smtp authentication", R.SECURITYERROR),
    ("message filtered", R.SPAMDETECTED),
    ("filtered by outbound scanning", R.SPAMDETECTED),
    ("too many recipients received this hour", R.TOOMANYCONN),
    ("too many messages", R.TOOMANYCONN),
    ("no such user", R.USERUNKNOWN),
    ("invalid recipient", R.USERUNKNOWN),
    ("mailbox is not allowed", R.USERUNKNOWN),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    return None
