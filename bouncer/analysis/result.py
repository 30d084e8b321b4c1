"""The analysis result: the contract between the analysis engine and everything after it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
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


# A frozen dataclass's __init__ sets each field with a Python-level object.__setattr__ call;
# the slots' own setters (C) build the same object in half the time. The engine makes one
# Recipient per recipient, with make_recipient (a test keeps both in step with the fields).
(
    _set_address,
    _set_action,
    _set_status,
    _set_reply_code,
    _set_reason,
    _set_hard,
    _set_diagnostic,
    _set_remote_mta,
    _set_arrival_date,
) = (getattr(Recipient, f.name).__set__ for f in fields(Recipient))


def make_recipient(
    address: str,
    action: str,
    status: str,
    reply_code: str,
    reason: Reason,
    hard: bool,
    diagnostic: str,
    remote_mta: str,
    arrival_date: datetime | None,
) -> Recipient:
    """``Recipient(...)`` with every field given, built faster."""
    recipient: Recipient = object.__new__(Recipient)
    _set_address(recipient, address)
    _set_action(recipient, action)
    _set_status(recipient, status)
    _set_reply_code(recipient, reply_code)
    _set_reason(recipient, reason)
    _set_hard(recipient, hard)
    _set_diagnostic(recipient, diagnostic)
    _set_remote_mta(recipient, remote_mta)
    _set_arrival_date(recipient, arrival_date)
    return recipient


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
