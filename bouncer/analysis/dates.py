"""Dates in reports (the Date header, RFC 3464 Arrival-Date), read leniently into UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_date(text: str | None) -> datetime | None:
    """An RFC 5322 date as an aware UTC datetime; None when absent or unreadable.

    A date without a zone (or with ``-0000``, "zone unknown") is taken as UTC.
    """
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(" ".join(text.split())[:100])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
