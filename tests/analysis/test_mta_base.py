"""Shortcuts in ``mta.base`` and ``mime`` read exactly what the plain way reads.

``Report`` reads a delivery-status part's fields straight from its parsed blocks
(``fields_of_parsed_blocks``) instead of writing them out as text for ``parse_fields``: the
two must agree on every message of the corpus and on generated and hand-built blocks. So must
the marker search for ASCII text and the charset lookup with their plain versions.
"""

from __future__ import annotations

import codecs
import email
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bouncer.analysis import fastparse, mime
from bouncer.analysis.mta import base
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


def test_known_charsets_are_codecs() -> None:
    for name in mime._KNOWN_CHARSETS:
        codecs.lookup(name)


def _charset_by_pattern(value: str) -> str:
    """``mime.charset_of`` as it was: the case-blind pattern, then a codec lookup."""
    m = mime._CHARSET_RE.search(value)
    name = (m.group(1) if m else "latin-1").lower()
    name = mime._CHARSET_ALIASES.get(name, name)
    try:
        codecs.lookup(name)
    except LookupError:
        return "latin-1"
    return name


@_SETTINGS
@given(
    value=st.lists(
        st.sampled_from(
            ["text/plain", ";", " ", "charset", "CharSet", "=", '"', "'", "UTF-8", "us-ascii", "x-bogus", "\u017f", "K"]
        ),
        max_size=8,
    ).map("".join)
)
def test_charset_of_reads_as_the_case_blind_pattern(value: str) -> None:
    part = Message()
    part["Content-Type"] = value
    assert mime.charset_of(part) == _charset_by_pattern(value)
    parsed = fastparse.parse(f"Content-Type: {value}\n\nbody\n".encode("utf-8", "surrogateescape"))
    assert mime.charset_of(parsed) == _charset_by_pattern(fastparse.header(parsed, "content-type") or "")


_MARKER_PIECES = st.sampled_from(
    [
        "Original message", "original message follows", " -- Original Message --", "message", "\n", "\n", " ",
        "Below this line is a copy of the message.", "the message headers", "Message header follows:", "x",
        "Returned message", "orig", "Undelivered Message Headers", "headers of the original message", ">",
        "Original mail header", "----- Forwarded message -----", "Your message could not be delivered.",
        " including all the headers", ", including all headers", " is following", " follows", "Unsent message below",
        ":", "=", "*", "...", "The original message was received at Mon", "This is a copy of the message",
        "Message headers follow", "Included is a copy of the message header", "Original Message:",
    ]
)  # fmt: skip


@settings(_SETTINGS, max_examples=1500)
@given(text=st.lists(_MARKER_PIECES, max_size=14).map("".join))
def test_ascii_marker_search_finds_what_the_word_search_finds(text: str) -> None:
    lowered = text.lower()
    assert base._first_marker_line(text, lowered) == base._marker_by_words(text, lowered)


def test_corpus_marker_search_finds_what_the_word_search_finds() -> None:
    for path in SAMPLES:
        report = Report(fastparse.parse(path.read_bytes()))
        text = report.text
        if text.isascii():
            assert base._first_marker_line(text, report.text_lower) == base._marker_by_words(text, report.text_lower)


def test_line_anchored_recipient_patterns_match_only_at_the_line_start() -> None:
    """``generic.scan`` tries its ^-patterns once per line: finditer finds nothing more."""
    from bouncer.analysis.mta import generic

    for path in SAMPLES:
        text = Report(fastparse.parse(path.read_bytes())).text_before_original
        for start, end in generic._lines_with_at(text):
            for pattern in generic._LINE_ANCHORED:
                found = [m.span() for m in pattern.finditer(text, start, end)]
                matched = pattern.match(text, start, end)
                assert found == ([] if matched is None else [matched.span()])


def _find_command_plainly(text: str) -> str:
    """``base.find_command`` without its one-search shortcut for texts naming no command."""
    if not text:
        return ""
    head = text[:4000]
    lowered = head.lower()
    for command, words, lower_words in base._STAGE_WORDS:
        if not (any(w in head for w in words) or any(w in lowered for w in lower_words)):
            continue
        if command == "DATA" and not any(w in lowered for w in lower_words) and not base._DATA_WORD.search(head):
            continue
        if command == "RCPT" and "RCPT first" in head:
            return ""
        return command
    if "talking to" in lowered and base._REFUSED_AT_GREETING.search(head):
        return "EHLO"
    return ""


def test_find_command_names_what_the_plain_way_names() -> None:
    import random

    draw = random.Random(5321)
    words = [w for _, ws, ls in base._STAGE_WORDS for w in (*ws, *ls)]
    pieces = [*words, *(w.lower() for w in words), *(w.upper() for w in words), *(w[1:] for w in words)]
    pieces += [w[:-1] for w in words] + [
        " ",
        "x",
        "while talking to mx.example:",
        " <<< 554 ",
        "RCPT first",
        "İ",
        "\u212a",
    ]
    texts = [" ".join(draw.choice(pieces) for _ in range(draw.randint(0, 5))) for _ in range(20_000)]
    texts += ["x" * 3998 + "DATA", "x" * 3997 + "HELO", "x" * 4000 + "HELO"]
    for text in texts:
        assert base.find_command(text) == _find_command_plainly(text), text
