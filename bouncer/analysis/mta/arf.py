"""RFC 5965 abuse feedback reports (ARF): a complaint forwarded by a mailbox provider.

Evidence: ``multipart/report; report-type=feedback-report`` or a ``message/feedback-report``
part. The complaining recipient is ``Original-Rcpt-To`` (or ``Removal-Recipient``), else
the To: of the returned original.
"""

from __future__ import annotations

from email.message import Message

from bouncer.analysis import mime
from bouncer.analysis.mta.base import Decoded, Found, Report, clean_address, parse_fields
from bouncer.analysis.taxonomy import Kind, Reason

NAME = "ARF"


def matches(report: Report) -> bool:
    if "message/feedback-report" in report.content_types:
        return True
    ctype = report.msg.get_content_type()
    return ctype == "multipart/report" and str(report.msg.get_param("report-type", "")).lower() == "feedback-report"


def _feedback_fields(report: Report) -> dict[str, str]:
    for part in report.parts_of("message/feedback-report"):
        payload = part.get_payload()
        if isinstance(payload, list):
            merged: dict[str, str] = {}
            for block in payload:
                if isinstance(block, Message):
                    for k, v in block.items():
                        merged.setdefault(k.lower(), str(v).strip())
            return merged
        blocks = parse_fields(mime.part_text(part))
        merged = {}
        for b in blocks:
            for k, v in b.items():
                merged.setdefault(k, v)
        return merged
    return {}


def decode(report: Report) -> Decoded | None:
    fields = _feedback_fields(report)
    feedback_type = fields.get("feedback-type", "").strip().lower() or "abuse"
    addresses: list[str] = []
    for name in ("original-rcpt-to", "removal-recipient"):
        a = clean_address(fields.get(name, ""))
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
