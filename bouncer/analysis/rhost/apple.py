"""Apple iCloud Mail: https://support.apple.com/en-us/102322 (its replies' own sentences)."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".mail.icloud.com", ".apple.com", ".me.com")
DOMAINS = ("icloud.com", "me.com", "mac.com")
SIGNS = ("support.apple.com/en-us/ht204137", "support.apple.com/en-us/102322")

_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("'s dmarc policy", R.AUTHFAILURE),
    ("failing both spf and dkim", R.AUTHFAILURE),
    ("present in the spamhaus", R.BLOCKED),
    ("listing in spamhaus", R.BLOCKED),
    ("support.proofpoint.com/dnsbl-lookup", R.BLOCKED),
    ("not accepting connections", R.BLOCKED),
    ("recipient no longer on server", R.HASMOVED),
    ("user is over quota", R.MAILBOXFULL),
    ("relay access denied", R.NORELAYING),
    ("host/domain does not accept mail", R.NOTACCEPT),
    ("due to local policy", R.POLICYVIOLATION),
    ("sender address rejected", R.REJECTED),
    ("due to excessive volume", R.SPEEDING),
    ("inactive email address", R.USERUNKNOWN),
    ("user does not exist", R.USERUNKNOWN),
    ("unknown or illegal alias", R.USERUNKNOWN),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    return None
