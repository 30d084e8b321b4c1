"""NTT docomo (mobile mail): its MX answers "550 Unknown user" both for a missing mailbox
(at RCPT) and for a sender refused by the recipient's own filter (after DATA)."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".docomo.ne.jp",)
DOMAINS = ("docomo.ne.jp",)
SIGNS: tuple[str, ...] = ()
USES_COMMAND = True  # the same reply means two things, told apart by the SMTP command

_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("552 too much mail data", R.MAILBOXFULL),
    ("552 too many recipients", R.TOOMANYCONN),
)


def reason(status: str, diagnostic: str, command: str = "") -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    if status in ("5.1.1", "5.0.911"):
        return R.USERUNKNOWN
    if status == "5.2.0":
        return R.FILTERED
    if "unknown user" in diagnostic:
        if command == "DATA" or "end of data" in diagnostic or ">>> data" in diagnostic:
            return R.REJECTED  # refused after DATA: the recipient's filter, not a missing mailbox
        if command == "RCPT":
            return R.USERUNKNOWN
    return None
