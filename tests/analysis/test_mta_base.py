"""Shortcuts in ``mta.base`` read exactly what the plain way reads.

``Report`` reads a delivery-status part's fields straight from its parsed blocks
(``fields_of_parsed_blocks``) instead of writing them out as text for ``parse_fields``: the
two must agree on every message of the corpus and on generated and hand-built blocks.
"""

from __future__ import annotations

import email
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bouncer.analysis import fastparse
from bouncer.analysis.mta.base import _RECIPIENT_LINE, Report, fields_of_parsed_blocks, parse_fields

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLES = sorted(
    path
    for place in ("tests/corpus", "tests/fixtures", "examples")
    for path in (ROOT / place).rglob("*")
    if path.is_file() and path.suffix in (".eml", "")
)

_SETTINGS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)

_DELIVERY_STATUS = ("message/delivery-status", "message/global-delivery-status")


def text_way(report: Report) -> tuple[list[dict[str, str]], bool]:
    text = report.delivery_status_text
    return parse_fields(text), _RECIPIENT_LINE.search(text)


def assert_same_fields(msg: Message) -> bool:
    """Assert the shortcut agrees with the text; True when it did not fall back."""
    report = Report(msg)
    fast = fields_of_parsed_blocks(report.parts_of(*_DELIVERY_STATUS))
    expected = text_way(report)
    assert (report.delivery_status_fields, report.delivery_status_names_recipient) == expected
    if fast is None:
        return False
    assert fast == expected
    return True


def test_corpus_delivery_status_fields_read_as_the_text_does() -> None:
    assert len(SAMPLES) > 400
    read = 0
    for path in SAMPLES:
        data = path.read_bytes()
        read += assert_same_fields(fastparse.parse(data))
        assert_same_fields(email.message_from_bytes(data, policy=compat32))
    assert read > 200  # the shortcut reads nearly every report itself


_NAMES = st.sampled_from(
    [
        "Final-Recipient", "final-recipient", "FINAL-RECIPIENT", "Original-Recipient", "Original-recipient",
        "Action", "Status", "Diagnostic-Code", "Reporting-MTA", "Remote-MTA", "Arrival-Date", "X-Postfix-Queue-ID",
        "X", "X_Under", "1Digit", "A" * 41, "A" * 42, "Weird!Name", "Final-Recipient2",
    ]
)  # fmt: skip
_VALUE_TEXT = st.text(alphabet=st.sampled_from(list("ab; @.<>\t\x0b:-")), max_size=12)
_CONTINUATION = st.tuples(st.sampled_from([" ", "\t", "  "]), _VALUE_TEXT).map("".join)


@st.composite
def _field(draw: st.DrawFn) -> str:
    lines = [f"{draw(_NAMES)}:{draw(st.sampled_from(['', ' ', '  ']))}{draw(_VALUE_TEXT)}"]
    lines += draw(st.lists(_CONTINUATION, max_size=2))
    return "\n".join(lines)


@st.composite
def _delivery_status_body(draw: st.DrawFn) -> str:
    blocks = draw(st.lists(st.lists(_field(), max_size=6), min_size=1, max_size=4))
    body = "\n\n".join("\n".join(block) for block in blocks)
    if draw(st.booleans()):
        body += "\nnot a field line\nStatus: 5.1.1"
    return body


@_SETTINGS
@given(body=_delivery_status_body(), crlf=st.booleans(), global_type=st.booleans())
def test_generated_delivery_status_fields_read_as_the_text_does(body: str, crlf: bool, global_type: bool) -> None:
    ctype = "message/global-delivery-status" if global_type else "message/delivery-status"
    text = (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\nwords\n--b\nContent-Type: {ctype}\n\n{body}\n--b--\n"
    )
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode()
    assert_same_fields(fastparse.parse(data))
    assert_same_fields(email.message_from_bytes(data, policy=compat32))


@pytest.mark.parametrize(
    "fields",
    [
        [("Final-Recipient ", "rfc822; a@b.example")],  # a blank in the name: a field line after all
        [("Final-Recipient:x", "rfc822; a@b.example")],
        [("Status", "5.1.1\nFinal-Recipient: rfc822; c@d.example")],  # an unindented line in a value
        [("Status", "5.1.1\n \nAction: failed")],
        [("Final-Recipient", "rfc822; a@b.example"), ("Final-Recipient", "rfc822; c@d.example")],
        [("Original-Recipient", "a"), ("Final-Recipient", "b"), ("Original-Recipient", "c")],
        [("", "empty name")],
    ],
)
def test_hand_built_blocks_read_as_the_text_does(fields: list[tuple[str, str]]) -> None:
    block = Message()
    block._headers = list(fields)  # type: ignore[attr-defined]
    block.set_payload("")
    part = Message()
    part["Content-Type"] = "message/delivery-status"
    part.set_payload([block])
    assert_same_fields(part)
