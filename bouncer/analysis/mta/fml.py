"""fml, the mailing-list manager (https://www.fml.org): notices that a post to a list was
refused.

Evidence: the ``X-MLServer: fml`` header. The refused recipient is the list address the notice
names in angle brackets; the notice's words give the reason: a non-member's post is
``rejected`` (the sender may not post), a loop alert is a ``systemerror``.
"""

from __future__ import annotations

import re

from bouncer.analysis.mta.base import ADDRESS_RE, Decoded, Found, Report, clean_address
from bouncer.analysis.taxonomy import Reason

NAME = "fml"
R = Reason

_LIST_ADDRESS = re.compile(r"<(" + ADDRESS_RE.pattern + r")>")
_OWN_WORDS: tuple[tuple[re.Pattern[str], Reason], ...] = (
    (re.compile(r"not a member|not member|members only|only members", re.I), R.REJECTED),
    (re.compile(r"Duplicated Message-ID|Loop Alert|loop", re.I), R.SYSTEMERROR),
    (re.compile(r"too big|too large|size limit", re.I), R.MESGTOOBIG),
)


def matches(report: Report) -> bool:
    return report.header("X-MLServer").lower().startswith("fml")


def decode(report: Report) -> Decoded | None:
    text = report.text_before_original[:4000]
    m = _LIST_ADDRESS.search(text)
    if not m:
        return None
    address = clean_address(m.group(1))
    if not address:
        return None
    words = " ".join(text.split())[:1000]
    reason = next((r for pattern, r in _OWN_WORDS if pattern.search(words + " " + report.subject)), None)
    item = Found(address=address, action="failed", diagnostic=words, reason=reason)
    return Decoded(mail_system=NAME, recipients=[item])
