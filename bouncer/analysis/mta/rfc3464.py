"""RFC 3464 delivery status notifications: a message/delivery-status part (or its fields
pasted into the text), one block of fields per recipient.

Evidence: a ``message/delivery-status`` part, or ``Final-Recipient:``/``Original-Recipient:``
with ``Action:``/``Status:`` lines in the report's text. Postfix, Sendmail, Exchange,
Gmail, Office 365 and most current MTAs send this.
"""

from __future__ import annotations

import re

from bouncer.analysis.mta.base import (
    CaseBlind,
    Decoded,
    Found,
    Report,
    clean_address,
    find_command,
    parse_fields,
    split_spec,
)
from bouncer.analysis.reasons.status import find_status, reason_of_status
from bouncer.analysis.taxonomy import Reason

NAME = "RFC3464"

_INLINE_FIELDS = CaseBlind(r"^(?:Final|Original)-Recipient:", re.M)
_ACTIONS = {
    "failed": "failed",
    "failure": "failed",
    "fail": "failed",
    "delayed": "delayed",
    "delay": "delayed",
    "delivered": "delivered",
    "deliverable": "delivered",
    "relayed": "relayed",
    "expanded": "expanded",
    "expired": "failed",
}


def matches(report: Report) -> bool:
    if report.has_delivery_status:
        return True
    lowered = report.text_lower
    if "final-recipient:" not in lowered and "original-recipient:" not in lowered:
        return False
    return _INLINE_FIELDS.search(report.text, report.text_lower)


def normal_action(value: str) -> str:
    known = _ACTIONS.get(value)
    if known is not None:
        return known  # the usual case, the word alone: what the general way below gives it
    word = value.strip().lower().split(" ", 1)[0] if value.strip() else ""
    return _ACTIONS.get(word, word)


def decode(report: Report) -> Decoded | None:
    # the delivery-status part's fields, or those pasted into the text when it names no recipient
    names_recipient = report.delivery_status_names_recipient
    blocks = report.delivery_status_fields if names_recipient else parse_fields(report.text)
    found: dict[str, Found] = {}
    reporting = arrival = ""
    for block in blocks:
        if "reporting-mta" in block and not reporting:
            reporting = split_spec(block["reporting-mta"])[1].strip().rstrip(".")
        if "arrival-date" in block and not arrival:
            arrival = block["arrival-date"].strip()
        if "final-recipient" not in block and "original-recipient" not in block:
            continue
        final = clean_address(block.get("final-recipient", ""))
        original = clean_address(block.get("original-recipient", ""))
        # a Final-Recipient rewritten to an internal name (no dot in its domain, a source
        # route) says less than the Original-Recipient the sender used
        address = final if final and ("." in final.rsplit("@", 1)[1] or not original) else original
        if not address:
            continue
        spec, diagnostic = split_spec(block.get("diagnostic-code", ""))
        status = find_status(block.get("status", ""))
        _, remote = split_spec(block.get("remote-mta", ""))
        item = Found(
            address=address,
            action=normal_action(block.get("action", "")),
            status=status,
            diagnostic=diagnostic,
            spec=spec,
            remote_mta=remote.strip().rstrip("."),
        )
        previous = found.get(address)
        if previous is None or (previous.action != "failed" and item.action == "failed"):
            found[address] = item
    if not found:
        return None
    recipients = list(found.values())
    supplement_from_text(report, recipients)
    return Decoded(mail_system=NAME, recipients=recipients, reporting_mta=reporting, arrival_date=arrival)


_PARAGRAPH_SPLIT = re.compile(r"\n[ \t]*\n")


def _said_enough(item: Found) -> bool:
    """A diagnostic, and either the SMTP command or a status specific enough that the command
    cannot change the reason (the classifier asks for the command only under a vague status:
    none, x.0.0, x.2.0/x.2.1, x.7.x or x.3.x)."""
    if not item.diagnostic:
        return False
    if item.command or find_command(item.diagnostic):
        return True
    status = find_status(item.diagnostic) or item.status
    return reason_of_status(status) not in _VAGUE


_VAGUE = frozenset({None, Reason.SECURITYERROR, Reason.SYSTEMERROR, Reason.FILTERED})


def supplement_from_text(report: Report, recipients: list[Found]) -> None:
    """Fill an empty diagnostic, and the SMTP command, from the human-readable part.

    Postfix, for one, often leaves Diagnostic-Code out of the report but explains each
    recipient in a paragraph of its text part.
    """
    for item in recipients:  # a plain loop: all() over a generator costs more
        if not _said_enough(item):
            break
    else:
        return  # the report said it all: no need to read its text part
    text = report.text_before_original
    if not text:
        return
    lowered = text.lower()
    for item in recipients:
        paragraph = ""
        at = lowered.find(item.address)
        if at >= 0:
            # the address's paragraph and the one after it (Sendmail puts the reason and
            # the session transcript there), up to where the next recipient's words begin
            end = lowered.find("\n\n", at)
            if end >= 0 and end - at < 200:
                following = lowered.find("\n\n", end + 2)
                end = following if following >= 0 else len(text)
            end = end if end >= 0 else len(text)
            line_end = lowered.find("\n", at)
            for other in recipients:
                if other is not item and line_end >= 0:
                    next_at = lowered.find("\n" + other.address, line_end - 1, end)
                    if next_at < 0:
                        next_at = lowered.find("\n<" + other.address, line_end - 1, end)
                    if next_at >= 0:
                        end = next_at
            start = lowered.rfind("\n", 0, at) + 1  # from the address's own line
            paragraph = text[start:end][:2000]
        elif len(recipients) == 1:
            # the text names the recipient otherwise (an alias, a pipe): with one recipient,
            # the whole text speaks of it, but only for the SMTP command, never as its words
            if not item.command:
                item.command = find_command(item.diagnostic) or find_command(text[:4000])
            continue
        if not item.diagnostic and paragraph:
            cleaned = " ".join(paragraph.split())
            item.diagnostic = cleaned
        if not item.command:
            item.command = find_command(item.diagnostic) or find_command(paragraph)
