"""Unsubscribe requests that mail clients send on the reader's behalf to a List-Unsubscribe
mailto: address. Apple Mail marks them ``X-Apple-Unsubscribe: true``.

For the CRM this is an opt-out by the reader: a complaint with feedback type ``opt-out``,
whose recipient is the reader (the request's sender). Evidence: that header, nothing else;
such a request is also ``Auto-Submitted: auto-replied`` and must not pass for an
out-of-office reply.
"""

from __future__ import annotations

from bouncer.analysis.mta.base import Decoded, Found, Report, clean_address
from bouncer.analysis.taxonomy import Kind, Reason

NAME = "Unsubscribe"


def matches(report: Report) -> bool:
    return report.header("X-Apple-Unsubscribe").strip().lower() == "true"


def decode(report: Report) -> Decoded | None:
    address = clean_address(report.header("From"))
    if not address:
        return None
    item = Found(address=address, action="", reason=Reason.FEEDBACK, feedback_type="opt-out")
    return Decoded(mail_system=NAME, recipients=[item], kind=Kind.COMPLAINT, feedback_type="opt-out")
