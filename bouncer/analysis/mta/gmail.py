"""Gmail's plain-text DSN (2010-2015): "Delivery to the following recipient failed
permanently:" / "has been delayed:", then "Technical details of permanent failure:".

Evidence: the "Technical details of (permanent|temporary) failure" heading. The diagnostic is
that section; a temporary failure is a delay.
"""

from __future__ import annotations

import re

from bouncer.analysis.mta import generic
from bouncer.analysis.mta.base import Decoded, Report
from bouncer.analysis.taxonomy import Reason

NAME = "Gmail"
R = Reason

_DETAILS = re.compile(r"Technical details of (permanent|temporary) failure:\s*", re.I)
_END = re.compile(r"^-{3,}\s*Original message\s*-{3,}", re.M | re.I)
_OWN_WORDS: tuple[tuple[str, Reason], ...] = (
    ("did not accept our requests to connect", R.EXPIRED),
    ("the recipient server did not accept our requests", R.EXPIRED),
    ("dns error", R.HOSTUNKNOWN),
    ("does not support tls", R.FAILEDSTARTTLS),
    ("tls negotiation failed", R.FAILEDSTARTTLS),
)


def matches(report: Report) -> bool:
    return "technical details of" in report.text_lower[:8000] and bool(_DETAILS.search(report.text[:8000]))


def decode(report: Report) -> Decoded | None:
    text = report.text
    m = _DETAILS.search(text)
    if not m:
        return None
    end = _END.search(text, m.end())
    details = text[m.end() : end.start() if end else m.end() + 4000]
    head = text[: m.start()]
    recipients = generic.scan(report, head) or generic.from_failed_recipients_header(report)
    temporary = m.group(1).lower() == "temporary"
    lowered = " ".join(details.split()).lower()
    for item in recipients:
        item.diagnostic = " ".join(details.split())
        item.action = "delayed" if temporary else "failed"
        item.temporary = temporary  # Gmail's own heading says whether the failure was a passing one
        for text_, reason in _OWN_WORDS:
            if text_ in lowered:
                item.reason = reason
                break
        if temporary and item.reason is None and not re.search(r"\b[45]\.\d\.\d", details):
            item.reason = R.EXPIRED
    return Decoded(mail_system=NAME, recipients=recipients)
