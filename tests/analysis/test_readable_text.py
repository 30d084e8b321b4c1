"""Every string in a result is valid Unicode, whatever bytes the message held.

compat32 keeps undecodable bytes as surrogate escapes; a result holding them could be
neither printed as JSON nor stored. 8-bit UTF-8 (which Exim and Postfix pass through from
the remote server) is read as text; anything else becomes U+FFFD.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bouncer.analysis import analyse
from bouncer.analysis.result import Analysis, readable
from bouncer.analysis.taxonomy import Kind


def _bounce(
    diagnostic: bytes, subject: bytes = b"Undelivered Mail", message_id: bytes = b"<r1@mx.example.net>"
) -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.example.net\nSubject: " + subject + b"\nMessage-ID: " + message_id + b"\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; someone@example.org\nAction: failed\nStatus: 5.2.2\n"
        b"Diagnostic-Code: smtp; " + diagnostic + b"\n\n--B--\n"
    )


def _strings(result: Analysis) -> list[str]:
    found = [getattr(result, f.name) for f in dataclasses.fields(result)]
    for recipient in result.recipients:
        found += [getattr(recipient, f.name) for f in dataclasses.fields(recipient)]
    return [value for value in found if isinstance(value, str)]


def test_8bit_utf8_is_read_as_text() -> None:
    result = analyse(_bounce("552 Postfach überfüllt".encode(), subject=b"Unzustellbar: Ihre Nachricht"))
    assert result.kind is Kind.BOUNCE
    assert result.recipients[0].diagnostic == "552 Postfach überfüllt"


def test_bytes_that_are_no_text_become_replacement_characters() -> None:
    result = analyse(_bounce(b"552 mailbox \xff\xfe full", subject=b"Undelivered \xe9", message_id=b"<r\xa01@mx>"))
    assert result.recipients[0].diagnostic == "552 mailbox \ufffd\ufffd full"
    assert result.message_id is not None and "\ufffd" in result.message_id
    for text in _strings(result):
        text.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=12), st.binary(min_size=1, max_size=12))
def test_any_bytes_in_headers_and_fields_give_valid_unicode(noise: bytes, more: bytes) -> None:
    result = analyse(_bounce(b"550 " + noise + b" unknown user", subject=more, message_id=b"<" + noise + b"@x>"))
    for text in _strings(result):
        text.encode("utf-8")  # raises on a lone surrogate


def test_readable_keeps_valid_text_as_it_is() -> None:
    text = "Zustellung fehlgeschlagen: ü"
    assert readable(text) is text
    assert readable("a\udcc3\udcbc") == "aü"  # escaped UTF-8 bytes
    assert readable("a\ud800") == "a?"  # a surrogate that escapes no byte


def test_parse_json_prints_valid_utf8(tmp_path: Path) -> None:
    (tmp_path / "8bit.eml").write_bytes(_bounce(b"550 \xff\xfe no such user", subject=b"\xe9\xe9"))
    command = [sys.executable, "-c", "from bouncer.cli import main; main()", "parse", "--json", str(tmp_path)]
    out = subprocess.run(command, check=True, capture_output=True).stdout
    line = json.loads(out.decode("utf-8"))
    assert line["recipients"][0]["diagnostic"] == "550 \ufffd\ufffd no such user"
