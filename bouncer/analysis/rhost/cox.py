"""Cox Communications: ``AUP#CODE`` in replies, https://www.cox.com/residential/support/email-error-codes.html."""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".cox.net",)
DOMAINS = ("cox.net",)
SIGNS = ("cox.com/", "cox.net")

_CODE = re.compile(r"aup#([0-9a-z]+)")
_CODES: dict[str, Reason] = {"cxbl": R.BLOCKED, "cdrbl": R.BLOCKED, "cxdns": R.REQUIREPTR, "cxsndr": R.AUTHFAILURE,
                             "cxsmtp": R.REJECTED, "cxcnct": R.TOOMANYCONN, "cxmxrt": R.TOOMANYCONN,
                             "cxthrt": R.SECURITYERROR, "cxmj": R.SECURITYERROR}  # fmt: skip
_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("too many bad commands from", R.BLOCKED),
    ("too many invalid recipients", R.BLOCKED),
    ("rejected - no rdns", R.REQUIREPTR),
    ("too many sessions from", R.TOOMANYCONN),
    ("message threshold exceeded", R.TOOMANYCONN),
    ("recipient rejected", R.USERUNKNOWN),
    ("sender rejected", R.REJECTED),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    m = _CODE.search(diagnostic)
    if m:
        code = m.group(1)
        if code in _CODES:
            return _CODES[code]
        if code.startswith("ipbl"):
            return R.BLOCKED  # the sending IP is on a DNS block list
        if code.startswith("urlbl"):
            return R.SPAMDETECTED  # a URL in the message is on a block list
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    return None
