"""A mail system's report that wraps another system's report: the outer bounce carries the
inner multipart/report (delivery-status) as an attached message, e.g. a gateway returning
what the next hop reported.

Evidence: the outer message looks like a bounce (null sender or a mail-system sender and a
bounce's wording), has no delivery-status part of its own, and attaches a message/rfc822
whose own content is a delivery-status report. A person forwarding a bounce does not
qualify: the outer message must itself come from a mail system.
"""

from __future__ import annotations

from email.message import Message

from bouncer.analysis.mta import generic, rfc3464
from bouncer.analysis.mta.base import Decoded, Report

NAME = "wrapped"


def _inner_report(report: Report) -> Message | None:
    for part in report.parts_of("message/rfc822"):
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            inner = payload[0]
            if inner.get_content_type() == "multipart/report":
                return inner
    return None


def matches(report: Report) -> bool:
    if report.has_delivery_status or "message/rfc822" not in report.content_types:
        return False
    return _inner_report(report) is not None and generic.looks_like_bounce(report)


def decode(report: Report) -> Decoded | None:
    inner = _inner_report(report)
    if inner is None:
        return None
    inner_report = Report(inner)
    if not rfc3464.matches(inner_report):
        return None
    decoded = rfc3464.decode(inner_report)
    if decoded is not None:
        decoded.mail_system = f"{NAME}/{decoded.mail_system}"
    return decoded
