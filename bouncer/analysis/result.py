"""The analysis result: the contract between the analysis engine and everything after it."""

from __future__ import annotations

from dataclasses import dataclass, field
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
