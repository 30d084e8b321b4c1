"""A report reads the same whatever a transport or a mail store did to its bytes.

Line ends: LF (a Maildir, most tools), CRLF (SMTP, Windows tools, many IMAP servers) or CR
alone (an old Mac, a file saved so).

Lone CRs end lines for the mail parser too, but quoted-printable's soft line break "=\\r"
is no soft break to its decoder (it drops the rest of the line), and the decoders read LF
lines: before the input was normalised, 11 corpus reports lost their reason that way and
117 the returned original's Message-ID.

Blanks at line ends (some relays pad lines): RFC 2045 tells a quoted-printable decoder to
drop them after a soft line break, and a padded "Content-Transfer-Encoding: base64 " still
names base64; the library decodes neither, which cost 6 corpus reports their recipient or
reason. Header names in any case, and an mbox "From " line, change nothing either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bouncer.analysis import Analysis, analyse
from bouncer.analysis.mime import qp_decode

TESTS = Path(__file__).resolve().parents[1]
MESSAGES = sorted((TESTS / "corpus" / "sisimai" / "emails").glob("*.eml")) + sorted((TESTS / "fixtures").rglob("*.eml"))


def _words(text: str | None) -> str:
    # a padded line may add a blank where lines join, and move where a long text is cut
    return "".join((text or "").split())[:120]


def _verdict(result: Analysis) -> tuple[object, ...]:
    recipients = tuple(
        (r.address, r.action, r.status, r.reason, r.hard, _words(r.diagnostic)) for r in result.recipients
    )
    found = (result.tracker_key, result.original_message_id)
    return (result.kind, recipients, *found, _words(result.subject), result.date)


@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_every_line_end_gives_the_same_verdict(line_end: bytes) -> None:
    assert len(MESSAGES) > 400
    differing = []
    for path in MESSAGES:
        lf = path.read_bytes().replace(b"\r\n", b"\n")
        if _verdict(analyse(lf)) != _verdict(analyse(lf.replace(b"\n", line_end))):
            differing.append(path.name)
    assert differing == []


def _pad_lines(raw: bytes) -> bytes:
    return re.sub(rb"(?m)(\S)$", rb"\1 ", raw)  # blank lines stay blank: they end header blocks


def _header_names(case: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def change(raw: bytes) -> bytes:
        head, blank, body = raw.partition(b"\n\n")
        return re.sub(rb"(?m)^([!-9;-~]+):", lambda m: case(m.group(1)) + b":", head) + blank + body

    return change


def _mbox_line(raw: bytes) -> bytes:
    return raw if raw.startswith(b"From ") else b"From MAILER-DAEMON  Mon Nov  2 10:00:00 2026\n" + raw


@pytest.mark.parametrize(
    "change",
    [_pad_lines, _header_names(bytes.lower), _header_names(bytes.upper), _mbox_line],
    ids=["padded-lines", "lower-case-names", "upper-case-names", "mbox-from-line"],
)
def test_what_transports_and_stores_do_changes_no_verdict(change: Callable[[bytes], bytes]) -> None:
    differing = []
    for path in MESSAGES:
        lf = path.read_bytes().replace(b"\r\n", b"\n")
        if _verdict(analyse(lf)) != _verdict(analyse(change(lf))):
            differing.append(path.name)
    assert differing == []


def test_quoted_printable_soft_breaks_after_a_lone_cr() -> None:
    assert qp_decode(b"user unkn=\rown\r") == b"user unknown\n"
    assert qp_decode(b"user unkn=\r\nown\r\n") == b"user unknown\r\n"  # CRLF stays as it was
    assert qp_decode(b"caf=C3=A9") == "café".encode()
    assert qp_decode(b"user unkn=  \nown") == b"user unknown"  # padding after a soft break
