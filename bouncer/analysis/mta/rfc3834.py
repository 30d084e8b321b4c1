"""RFC 3834 automatic replies: out-of-office, vacation and other auto-responders.

Evidence: ``Auto-Submitted: auto-replied``, ``X-Autoreply``/``X-Autorespond``,
``Precedence: auto_reply``, or a subject in the usual auto-reply forms ("Automatic reply:",
"Out of Office", "Auto:", vacation notices). Checked only after no bounce decoder matched:
Exim marks its own bounces ``Auto-Submitted: auto-replied`` too.
"""

from __future__ import annotations

from bouncer.analysis.mta import generic
from bouncer.analysis.mta.base import AUTOREPLY_SUBJECT, Decoded, Found, Report, clean_address
from bouncer.analysis.taxonomy import Kind, Reason

NAME = "RFC3834"

_HEADER_SIGNS = ("x-autoreply", "x-autorespond", "x-mail-autoreply", "x-vacation")


def matches(report: Report) -> bool:
    if report.parts_of("message/delivery-status", "message/global-delivery-status") or generic.looks_like_bounce(
        report
    ):
        return False  # a bounce that named no recipient is still no auto-reply
    auto = report.header("Auto-Submitted").lower()
    if auto.startswith("auto-replied"):
        return True
    if any(report.has_header(h) for h in _HEADER_SIGNS):
        return True
    if report.header("Precedence").lower() == "auto_reply":
        return True
    return bool(AUTOREPLY_SUBJECT.search(report.subject.strip()))


def decode(report: Report) -> Decoded | None:
    address = clean_address(report.header("From"))
    if not address:
        return None
    item = Found(address=address, action="", reason=Reason.VACATION, diagnostic=report.text[:400])
    return Decoded(mail_system=NAME, recipients=[item], kind=Kind.AUTOREPLY)
