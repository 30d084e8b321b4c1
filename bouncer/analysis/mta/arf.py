"""RFC 5965 abuse feedback reports (ARF): a complaint forwarded by a mailbox provider.

Evidence: ``multipart/report; report-type=feedback-report`` or a ``message/feedback-report``
part. The complaining recipient is ``Original-Rcpt-To`` (or ``Removal-Recipient``), else
the To: of the returned original.
"""

from __future__ import annotations

import re
from email.message import Message

from bouncer.analysis import mime
from bouncer.analysis.mta.base import Decoded, Found, Report, clean_address
from bouncer.analysis.taxonomy import Kind, Reason

NAME = "ARF"

_FIELD_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]{1,40}):[ \t]*(.*)$", re.M)


def matches(report: Report) -> bool:
    if "message/feedback-report" in report.content_types:
        return True
    top = report.raw_headers.get("content-type", "").lower()
    return "multipart/report" in top and "feedback-report" in top


def _feedback_fields(report: Report) -> list[tuple[str, str]]:
    """Every (lower-cased name, value) of the feedback report, repeated fields included."""
    for part in report.parts_of("message/feedback-report"):
        payload = part.get_payload()
        if isinstance(payload, list):
            fields: list[tuple[str, str]] = []
            for block in payload:
                if isinstance(block, Message):
                    fields.extend((k.lower(), str(v).strip()) for k, v in block.items())
            return fields
        text = mime.part_text(part)
        return [(m.group(1).lower(), m.group(2).strip()) for m in _FIELD_LINE.finditer(text)]
    return []


def decode(report: Report) -> Decoded | None:
    fields = _feedback_fields(report)
    feedback_type = next((v.lower() for k, v in fields if k == "feedback-type" and v), "abuse")
    addresses: list[str] = []
    for name, value in fields:
        if name in ("original-rcpt-to", "removal-recipient"):
            a = clean_address(value)
            if a:
                addresses.append(a)
    if not addresses:
        headers = report.original_headers_text
        for line in headers.split("\n"):
            if line.lower().startswith("to:"):
                a = clean_address(line[3:])
                if a:
                    addresses.append(a)
                break
    recipients = [
        Found(address=a, action="", reason=Reason.FEEDBACK, feedback_type=feedback_type)
        for a in dict.fromkeys(addresses)
    ]
    return Decoded(mail_system=NAME, recipients=recipients, kind=Kind.COMPLAINT, feedback_type=feedback_type)
