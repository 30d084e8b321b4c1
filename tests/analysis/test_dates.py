"""Report dates: the Date header and RFC 3464 Arrival-Date become aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

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
