"""Which campaign mail a report answers: the CRM tracker key and Message-ID of the returned original."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bouncer.analysis import AnalysisOptions


@dataclass(frozen=True, slots=True)
class CampaignRef:
    tracker_key: str | None = None
    original_message_id: str | None = None


def find_campaign(report: Message, options: AnalysisOptions) -> CampaignRef:
    """Look for the returned original inside ``report`` (a compat32 tree) and read its key.

    Only the returned original counts, never the report's own text.
    """
    return CampaignRef()
