"""Yahoo Inc. (Yahoo Mail, AOL): https://senders.yahooinc.com/smtp-error-codes/."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".yahoodns.net", ".yahoo.com", ".aol.com", ".yahoo.co.jp")
DOMAINS: tuple[str, ...] = ("yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com", "aol.com", "rocketmail.com")
SIGNS = (
    "postmaster.verizonmedia.com",
    "postmaster.yahooinc.com",
    "senders.yahooinc.com",
    "help.yahoo.com",
    "postmaster.yahooinc.com",
    ".mail.ne1.yahoo.com",
)

_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("doesn't have a yahoo.com account", R.USERUNKNOWN),
    ("doesn't have a aol.com account", R.USERUNKNOWN),
    ("this mailbox is disabled", R.SUSPEND),
    ("user is over the quota", R.MAILBOXFULL),
    ("mailbox is full", R.MAILBOXFULL),
    ("not accepted for policy reasons", R.POLICYVIOLATION),
    ("temporarily deferred due to unexpected volume or user complaints", R.BADREPUTATION),
    ("messages from", R.BLOCKED),
    ("ptr record", R.REQUIREPTR),
    ("dmarc", R.AUTHFAILURE),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    return None
