"""Mail-system decoders, one module per family, and the dispatcher that picks them by evidence.

Each module declares ``NAME``, ``matches(report)`` (cheap evidence: a From/Subject/header
signature, a marker line, a MIME structure) and ``decode(report)``. The dispatcher asks the
modules in order and uses the first one whose evidence matches and that decodes at least one
recipient; it never pools answers from several decoders.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from bouncer.analysis.mta import (
    amazonses,
    arf,
    exim,
    fml,
    generic,
    gmail,
    googlegroups,
    legacy,
    qmail,
    rfc3464,
    rfc3834,
    unsubscribe,
    wrapped,
)
from bouncer.analysis.mta.base import Decoded, Report
from bouncer.analysis.reasons.status import find_status

# Structure first: a feedback report, a notification in JSON, a delivery-status part.
STRUCTURED: tuple[ModuleType, ...] = (arf, unsubscribe, amazonses, rfc3464, wrapped)
# Then the text formats of mail systems that send no RFC 3464 report, by their signature.
# Order matters only where two signatures could both match: the more specific comes first.
TEXT_FORMATS: tuple[ModuleType, ...] = (googlegroups, gmail, qmail, exim, legacy, fml)

ORDER: tuple[ModuleType, ...] = (*STRUCTURED, *TEXT_FORMATS, generic, rfc3834)


def dispatch(report: Report) -> Decoded | None:
    for module in ORDER:
        matches: Callable[[Report], bool] = module.matches
        if not matches(report):
            continue
        decoded: Decoded | None = module.decode(report)
        if decoded is not None and (decoded.recipients or decoded.kind is not None):
            if module in TEXT_FORMATS and report.has_delivery_status:
                _status_from_unaddressed_report(report, decoded)
            return decoded
    return None


def _status_from_unaddressed_report(report: Report, decoded: Decoded) -> None:
    """A delivery-status part whose one recipient block names no address the text decoder
    could use (Exim's "Final-Recipient: rfc822;/var/mail/box" for a file delivery) still
    states the real Status: it applies to the one recipient the text names, and beats
    any status derived from the reason."""
    if len(decoded.recipients) != 1 or decoded.recipients[0].status:
        return
    blocks = report.delivery_status_fields
    statuses = [status for block in blocks if (status := find_status(block.get("status", "")))]
    if len(statuses) == 1:
        decoded.recipients[0].status = statuses[0]
