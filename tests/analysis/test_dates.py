"""Report dates: the Date header and RFC 3464 Arrival-Date become aware UTC datetimes."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from bouncer.analysis import analyse
from bouncer.analysis.dates import parse_date

DSN = b"""\
From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: bounces@example.org
Subject: Undelivered Mail Returned to Sender
Date: Tue, 12 Mar 2024 10:15:00 +0100
Message-ID: <dsn-1@mx.example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Arrival-Date: Tue, 12 Mar 2024 09:14:58 +0100

Final-Recipient: rfc822; nobody@example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected

--B--
"""


def test_arrival_date_and_date_header_are_read_as_utc() -> None:
    analysis = analyse(DSN)
    assert analysis.date == datetime(2024, 3, 12, 9, 15, 0, tzinfo=UTC)
    [recipient] = analysis.recipients
    assert recipient.arrival_date == datetime(2024, 3, 12, 8, 14, 58, tzinfo=UTC)


def test_a_report_without_arrival_date_leaves_it_unset() -> None:
    analysis = analyse(DSN.replace(b"Arrival-Date: Tue, 12 Mar 2024 09:14:58 +0100\n", b""))
    assert analysis.recipients[0].arrival_date is None
    assert analysis.date is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 12 Mar 2024 10:15:00 -0000", datetime(2024, 3, 12, 10, 15, tzinfo=UTC)),
        ("12 Mar 2024 10:15:00", datetime(2024, 3, 12, 10, 15, tzinfo=UTC)),
        ("Tue, 12 Mar 2024 10:15:00 +0530", datetime(2024, 3, 12, 4, 45, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        ("Tue, 99 Foo 2024 99:99:99 +0000", None),
    ],
)
def test_parse_date(text: str | None, expected: datetime | None) -> None:
    assert parse_date(text) == expected


def _library_reading(text: str | None) -> datetime | None:
    """parse_date as it was before its fast path: the standard library reads every date."""
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(" ".join(text.split())[:100])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _outcome(read: Callable[[str], datetime | None], text: str) -> object:
    try:
        moment = read(text)
    except Exception as exc:  # both readings must fail alike too
        return type(exc), str(exc)
    return None if moment is None else (moment, moment.tzinfo)


# (usual values, odd values) per field: dates are drawn mostly from the first, so that most
# take the fast path, and each odd value often enough to meet every other field's.
_FIELDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("", "Thu, ", "Thu,", "thu ", "SUN "), ("Foo ", "Foo, ", "Thu,, ", "13,", "Thu , ")),
    (("1", "01", "29", "31"), ("32", "0", "029", "x", "1,")),
    (("Jan", "may", "MAY", "Dec", "September"), ("sept", "Foo", "13", "Dec,")),
    (("2025", "25", "69", "68", "99", "00", "1999"), ("0", "10000", "99999999999999999999", "2025,", "10:00")),
    (
        ("10:00", "10:00:00", "23:59:59", "1:2:3"),
        ("23:59:60", "24:00:00", "10:00:00,", "10.00.00", "10:00:00+0100", "2025"),
    ),
    (
        ("", " +0100", " -0000", " +0000", " -0530", " +2359", " UT", " EST", " pdt", " Z", " CET", " +0900 (JST)",
         " -0000 (GMT)", " +0200 x y z"),
        (" +2400", " -9999", " +99999999999999", " (CET)", " +100", " +01:00", " +1_000", " ++0100"),
    ),
)  # fmt: skip


def _dates() -> list[str]:
    draw = random.Random(5322)
    generated = [
        "{}{} {} {} {}{}".format(*(draw.choice(odd if draw.random() < 0.15 else usual) for usual, odd in _FIELDS))
        for _ in range(30_000)
    ]
    odd = ["", " ", "Thu", "13 Nov 2025", "13 Nov 2025 10:00", "13-Nov-25 10:00:00 GMT", "2012-10-31 04-46-42",
           "Thu, 13 Nov 2025  10:00:00   +0100", "\tThu,\n 13 Nov 2025 10:00:00 +0100",
           "Thu, 13 Nov 2025 10:00:00 +0100" * 9,
           "Thu, 13 Nov 2025 10:00:00 \u2003+0100", "Thu, \u0661\u0663 Nov 2025 10:00:00 +0100",
           "31 Dec 9999 23:59:59 -0100", "1 Jan 1 00:00 +0100", "31 Dec 9999 23:59:59 +0100"]  # fmt: skip
    return generated + odd


def _corpus_dates() -> list[str]:
    found = []
    for path in sorted(Path(__file__).parent.parent.joinpath("corpus").rglob("*.eml")):
        for line in path.read_bytes().decode("latin-1").splitlines():
            if line.lower().startswith(("date:", "arrival-date:")):
                found.append(line.split(":", 1)[1])
    return found


def test_the_fast_reading_gives_what_the_standard_library_gives() -> None:
    texts = _dates() + _corpus_dates()
    assert len(texts) > 30_000
    differ = [t for t in texts if _outcome(parse_date, t) != _outcome(_library_reading, t)]
    assert differ == []
