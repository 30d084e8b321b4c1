"""A report reads the same whatever its line ends: LF (a Maildir, most tools), CRLF (SMTP,
Windows tools, many IMAP servers) or CR alone (an old Mac, a file saved so).

Lone CRs end lines for the mail parser too, but quoted-printable's soft line break "=\\r"
is no soft break to its decoder (it drops the rest of the line), and the decoders read LF
lines: before the input was normalised, 11 corpus reports lost their reason that way and
117 the returned original's Message-ID.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bouncer.analysis import Analysis, analyse
from bouncer.analysis.mime import qp_decode

TESTS = Path(__file__).resolve().parents[1]
MESSAGES = sorted((TESTS / "corpus" / "sisimai" / "emails").glob("*.eml")) + sorted((TESTS / "fixtures").rglob("*.eml"))


def _verdict(result: Analysis) -> tuple[object, ...]:
    recipients = tuple((r.address, r.action, r.status, r.reason, r.hard, r.diagnostic) for r in result.recipients)
    return (result.kind, recipients, result.tracker_key, result.original_message_id, result.subject, result.date)


@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_every_line_end_gives_the_same_verdict(line_end: bytes) -> None:
    assert len(MESSAGES) > 400
    differing = []
    for path in MESSAGES:
        lf = path.read_bytes().replace(b"\r\n", b"\n")
        if _verdict(analyse(lf)) != _verdict(analyse(lf.replace(b"\n", line_end))):
            differing.append(path.name)
    assert differing == []


def test_quoted_printable_soft_breaks_after_a_lone_cr() -> None:
    assert qp_decode(b"user unkn=\rown\r") == b"user unknown\n"
    assert qp_decode(b"user unkn=\r\nown\r\n") == b"user unknown\r\n"  # CRLF stays as it was
    assert qp_decode(b"caf=C3=A9") == "café".encode()
