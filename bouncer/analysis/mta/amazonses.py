"""Amazon SES notifications delivered by SNS as JSON (notificationType Bounce, Complaint or
Delivery), see https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html.

Evidence: a text body that is a JSON object with ``notificationType`` (bare, or inside an SNS
envelope's ``Message``). SES's mail-form DSNs are RFC 3464 and go to that decoder.
"""

from __future__ import annotations

import json
from typing import Any

from bouncer.analysis.mta.base import Decoded, Found, Report, clean_address
from bouncer.analysis.taxonomy import Kind, Reason

NAME = "AmazonSES"


def matches(report: Report) -> bool:
    raw = report.msg._payload  # type: ignore[attr-defined]
    if isinstance(raw, str) and not raw.isascii():
        raw = report.msg.get_payload()  # undecoded bytes: the text get_payload() decodes from them
    if not isinstance(raw, str) or raw.find("notificationType", 0, 6000) < 0:
        return False  # cheap look at the raw body (not copied) before decoding it
    head = report.text[:4000]
    return '"notificationType"' in head or '\\"notificationType\\"' in head


def _load(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    end = text.rfind("}")
    try:
        # SNS mail wraps long lines: a newline inside a JSON string is not JSON
        data = json.loads(text[start : end + 1].replace("\n", ""))
    except ValueError:
        # SNS appends its own footer after "--"; the JSON may also be followed by text
        cut = text.find("\n--\n", start)
        try:
            data = json.loads(text[start:cut] if cut > 0 else text[start:])
        except ValueError:
            return None
    if isinstance(data, dict) and "Message" in data and isinstance(data["Message"], str):
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def decode(report: Report) -> Decoded | None:
    data = _load(report.text)
    if not data:
        return None
    kind_name = str(data.get("notificationType") or data.get("eventType") or "")
    recipients: list[Found] = []
    if kind_name == "Bounce":
        bounce = data.get("bounce") or {}
        temporary = bounce.get("bounceType") == "Transient"
        for r in bounce.get("bouncedRecipients") or []:
            address = clean_address(str(r.get("emailAddress", "")))
            if not address:
                continue
            diag = str(r.get("diagnosticCode") or "")
            status = str(r.get("status") or "")
            action = str(r.get("action") or ("delayed" if temporary else "failed"))
            found = Found(address=address, action=action, status=status, diagnostic=diag)
            if bounce.get("bounceSubType") == "Suppressed" or bounce.get("bounceSubType") == "OnAccountSuppressionList":
                found.reason = Reason.SUPPRESSED
            recipients.append(found)
        return Decoded(mail_system=NAME, recipients=recipients)
    if kind_name == "Complaint":
        complaint = data.get("complaint") or {}
        feedback = str(complaint.get("complaintFeedbackType") or "abuse")
        for r in complaint.get("complainedRecipients") or []:
            address = clean_address(str(r.get("emailAddress", "")))
            if address:
                recipients.append(Found(address=address, reason=Reason.FEEDBACK, feedback_type=feedback))
        return Decoded(mail_system=NAME, recipients=recipients, kind=Kind.COMPLAINT, feedback_type=feedback)
    if kind_name == "Delivery":
        delivery = data.get("delivery") or {}
        for a in delivery.get("recipients") or []:
            address = clean_address(str(a))
            if address:
                recipients.append(
                    Found(
                        address=address,
                        action="delivered",
                        status="2.6.0",
                        diagnostic=str(delivery.get("smtpResponse", "")),
                    )
                )
        return Decoded(mail_system=NAME, recipients=recipients, kind=Kind.DELIVERED)
    return None
