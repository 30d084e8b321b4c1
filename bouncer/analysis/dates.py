"""Dates in reports (the Date header, RFC 3464 Arrival-Date), read leniently into UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# The usual RFC 5322 shape ("Thu, 13 Nov 2025 10:00:00 +0100 (CET)", the weekday, the seconds
# and the zone optional) is read here with one regex, giving exactly what the standard
# library's ``parsedate_to_datetime`` gives (tests/analysis/test_dates.py compares the two);
# the library's token-by-token reading costs about 5x more. Anything else goes to it.
# Groups: a weekday before a comma | a weekday without one, day, month, year, hour, minute,
# second, the zone token (whatever the library would take as the zone).
_USUAL = re.compile(
    r"(?:[A-Za-z]+, ?|([A-Za-z]+) )?([0-9]+) ([A-Za-z]+) ([0-9]+) ([0-9]+):([0-9]+)(?::([0-9]+))?(?: ([^ ]+))?(?: |\Z)"
)
# email._parseaddr's tables, so that both readings agree.
_MONTHS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "september"), ("oct", "october"),
            ("nov", "november"), ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_DAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})
_ZONES: dict[str, int] = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "AST": -400, "ADT": -300, "EST": -500, "EDT": -400,
    "CST": -600, "CDT": -500, "MST": -700, "MDT": -600, "PST": -800, "PDT": -700,
}  # fmt: skip


def _read_usual(text: str) -> tuple[datetime, timedelta | None] | None:
    """When ``text`` has the usual shape: the date as the UTC wall clock it states, and its
    zone's offset (None for none or ``-0000``), which is what ``parsedate_to_datetime``
    reads (and it raises alike); None when the library must read ``text``."""
    m = _USUAL.match(text)
    if m is None:
        return None
    weekday, day, month_name, year, hour, minute, second, zone = m.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None or (weekday is not None and weekday.lower() not in _DAYS):
        return None  # the library then swaps fields or reads the word as the day: its call
    yy = int(year)
    if yy < 100:  # two-digit years, as the library reads them (POSIX)
        yy += 1900 if yy > 68 else 2000
    offset: int | None = None
    if zone:
        zone = zone.upper()
        if zone in _ZONES:
            offset = _ZONES[zone]
        else:
            try:  # noqa: SIM105 - free when int() succeeds (the usual case), unlike suppress()
                offset = int(zone)
            except ValueError:
                pass
            if offset == 0 and zone.startswith("-"):
                offset = None  # -0000: "zone unknown"
        if offset:
            sign = -1 if offset < 0 else 1
            offset = abs(offset)
            offset = sign * ((offset // 100) * 3600 + (offset % 100) * 60)
    moment = datetime(yy, month, int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC)
    if offset is None:
        return moment, None
    if not -86400 < offset < 86400:
        raise ValueError("offset must be less than a day")  # what datetime.timezone() says
    return moment, timedelta(seconds=offset)


def parse_date(text: str | None) -> datetime | None:
    """An RFC 5322 date as an aware UTC datetime; None when absent or unreadable.

    A date without a zone (or with ``-0000``, "zone unknown") is taken as UTC.
    """
    if not text:
        return None
    text = " ".join(text.split())[:100]
    try:
        usual = _read_usual(text)
        moment = parsedate_to_datetime(text) if usual is None else usual[0]
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if usual is not None:
        # what astimezone(UTC) gives (and raises, out of range), without a timezone object
        # for the offset, which costs more than the rest of the reading
        offset = usual[1]
        return moment if offset is None else moment - offset
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
