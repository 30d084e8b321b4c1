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

# Yahoo's documented replies (https://senders.yahooinc.com/smtp-error-codes)
_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("doesn't have a yahoo.com account", R.USERUNKNOWN),
    ("doesn't have a aol.com account", R.USERUNKNOWN),
    ("dd this user doesn't have a ", R.USERUNKNOWN),
    ("mailbox not found", R.USERUNKNOWN),
    (" is no longer valid.", R.SUSPEND),
    ("this mailbox is disabled", R.SUSPEND),
    ("user is over the quota", R.MAILBOXFULL),
    ("mailbox is full", R.MAILBOXFULL),
    ("requires all senders to authenticate", R.AUTHFAILURE),
    ("dmarc", R.AUTHFAILURE),
    ("because the ip is in spamhaus's list", R.BLOCKED),
    ("not accepted from ip addresses on spamhaus", R.BLOCKED),
    ("relaying denied for ", R.NORELAYING),
    ("headers are not rfc compliant", R.NOTCOMPLIANTRFC),
    ("not accepted for policy reasons", R.POLICYVIOLATION),
    ("temporarily deferred due to unexpected volume or user complaints", R.BADREPUTATION),
    ("due to unresolvable rfc.5321", R.REJECTED),
    (" will be permanently deferred", R.REJECTED),
    ("user is receiving mail too quickly", R.SPEEDING),
    ("max message per connection reached", R.TOOMANYCONN),
    ("ptr record", R.REQUIREPTR),
    # their outbound relays' DNS verdicts on the recipient's domain
    ("type=mx: malformed or unexpected name server reply", R.NOTACCEPT),
    ("host or domain name not found", R.HOSTUNKNOWN),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    return None
