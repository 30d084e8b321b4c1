"""The analysis result: the contract between the analysis engine and everything after it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from bouncer.analysis.taxonomy import Kind, Reason

CrmActivity = Literal["invalid email", "send error"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient a report speaks of."""

    address: str
    action: str = "failed"  # RFC 3464 Action: failed | delayed | delivered | relayed | expanded
    status: str = ""  # RFC 3463 enhanced status code, "" when none could be found
    reply_code: str = ""  # SMTP reply code, "" when none
    reason: Reason = Reason.UNDEFINED
    hard: bool = False  # the address itself is bad
    diagnostic: str = ""
    remote_mta: str = ""
    arrival_date: datetime | None = None  # the report's Arrival-Date, when it has one

    @property
    def crm_activity(self) -> CrmActivity:
        """The CRM campaign-log activity this recipient maps to."""
        return "invalid email" if self.hard else "send error"

    def to_contract(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "action": self.action,
            "status": self.status,
            "reply_code": self.reply_code,
            "reason": str(self.reason),
            "hard": self.hard,
            "diagnostic": self.diagnostic,
            "remote_mta": self.remote_mta,
        }


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the engine could say about one message."""

    kind: Kind
    recipients: tuple[Recipient, ...] = ()
    tracker_key: str | None = None  # the CRM campaign tracker key of the returned original
    original_message_id: str | None = None  # Message-ID of the returned original
    feedback_type: str | None = None  # ARF Feedback-Type, for complaints
    message_id: str | None = None  # the report's own Message-ID
    from_address: str | None = None
    subject: str | None = None
    date: datetime | None = None  # the report's Date header
    mail_system: str | None = None  # which mail-system module decoded it
    error: str | None = None  # why the analysis could not finish, if it could not
    forwarded: bool = False  # a person forwarded the report: the results are the report's
    notes: tuple[str, ...] = field(default=())  # short explanations, for `bouncer parse` readers

    def to_contract(self, source: str) -> dict[str, Any]:
        """The `bouncer parse --json` object (see docs/parse-contract.md)."""
        return {
            "source": source,
            "kind": str(self.kind),
            "recipients": [r.to_contract() for r in self.recipients],
            "tracker_key": self.tracker_key,
            "original_message_id": self.original_message_id,
            "feedback_type": self.feedback_type,
            "mail_system": self.mail_system,
            "error": self.error,
        }


def readable(text: str) -> str:
    """``text`` as valid Unicode, itself when it is.

    compat32 keeps a message's undecodable bytes as surrogate escapes, which no JSON or
    database encoder takes. They are read back as UTF-8 (what 8-bit text in mail usually
    is), and what still is not text becomes U+FFFD.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that escapes no byte
        return text.encode("utf-8", "replace").decode("utf-8")


# the strings a result takes from the message (the others are the engine's own)
_ANALYSIS_TEXT = ("message_id", "from_address", "subject", "feedback_type", "original_message_id", "error")
_RECIPIENT_TEXT = ("address", "action", "status", "reply_code", "diagnostic", "remote_mta")


def _readable_fields(obj: Analysis | Recipient, names: tuple[str, ...]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for name in names:
        value = getattr(obj, name)
        if value is not None and not value.isascii():
            text = readable(value)
            if text is not value:
                changes[name] = text
    return changes


def with_readable_text(analysis: Analysis) -> Analysis:
    """``analysis`` with every string it took from the message valid Unicode (``readable``)."""
    recipients = tuple(
        replace(r, **changes) if (changes := _readable_fields(r, _RECIPIENT_TEXT)) else r  # type: ignore[arg-type]
        for r in analysis.recipients
    )
    changes = _readable_fields(analysis, _ANALYSIS_TEXT)
    if changes or any(new is not old for new, old in zip(recipients, analysis.recipients, strict=True)):
        return replace(analysis, recipients=recipients, **changes)  # type: ignore[arg-type]
    return analysis
