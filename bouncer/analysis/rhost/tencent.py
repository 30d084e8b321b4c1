"""Tencent (QQ Mail, Foxmail): https://service.mail.qq.com/detail/122/72 lists its replies."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".qq.com", ".foxmail.com")
DOMAINS: tuple[str, ...] = ("qq.com", "foxmail.com")
SIGNS = ("service.mail.qq.com", "service.exmail.qq.com")

_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("connection frequency limited", R.TOOMANYCONN),
    ("frequency of ip", R.TOOMANYCONN),
    ("ip frequency limited", R.TOOMANYCONN),
    ("mailbox unavailable or access denied", R.SUSPEND),
    ("mailbox not found", R.USERUNKNOWN),
    ("mail content denied", R.SPAMDETECTED),
    ("suspected spam", R.SPAMDETECTED),
    ("ip is rejected", R.BLOCKED),
    ("domain frequency limited", R.SPEEDING),
    ("spf", R.AUTHFAILURE),
    ("dmarc", R.AUTHFAILURE),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    return None
