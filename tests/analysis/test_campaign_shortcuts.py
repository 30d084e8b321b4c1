"""The lookup's shortcuts skip only work that cannot change its answer.

``find_campaign`` skips whole steps: the walk of an original that cannot carry an attached
message (``may_return_copies``), and the parsing of an inline copy that cannot hold a key once
the Message-ID is known (``_may_hold_key``). Each test runs the lookup with the shortcuts and
with them switched off (the predicates forced to "must look"), and the answers must be equal:
on the corpus, the fixtures and generated reports that carry keys in every form, in nested
originals, in attachments, and in inline copies read after a keyless original.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest
from test_campaign import (
    ALL_FORMS,
    KEY,
    MESSAGE_ID,
    PIXEL,
    WRAPPERS,
    _crlf,
    _report,
    campaign_mail,
    wrap_qmail,
    wrap_rfc822,
)

from bouncer.analysis import AnalysisOptions, campaign, fastparse, original
from bouncer.analysis.campaign import find_campaign

TESTS = Path(__file__).resolve().parent.parent
REAL_MESSAGES = sorted(
    [
        *(TESTS / "corpus").rglob("*.eml"),
        *(TESTS / "fixtures").rglob("*.eml"),
        *(TESTS.parent / "examples").rglob("*.eml"),
    ]
)
PATTERNS = AnalysisOptions(tracker_patterns=(re.compile(r"Message-ID: <(?P<key>[^@>]+)"),))

# A campaign mail without a key but with a Message-ID: once it is read, the lookup has its
# Message-ID and the shortcut for inline copies applies to everything after it.
KEYLESS = campaign_mail(forms=()).replace(MESSAGE_ID, "<keyless.1@crm.example-ngo.org>")


def _inline_after_keyless(copy: str) -> str:
    """A report returning a keyless original as message/rfc822 and quoting ``copy`` inline."""
    notice = "Delivery failed.\n\n--- Below this line is a copy of the message.\n\n"
    notice += "Return-Path: <news@example-ngo.org>\nReceived: from crm (198.51.100.7) by mx; Tue, 24 Nov 2026\n"
    return _report("Content-Type: message/rfc822\n\n" + KEYLESS, notice=notice + copy)


def _copies_with_keys() -> Iterator[tuple[str, bytes]]:
    """Inline copies, each holding KEY in some form, quoted after a keyless original."""
    for form in ALL_FORMS:
        for html in (True, False) if form != PIXEL else (True,):  # (a text-only mail has no pixel)
            for cte in ("quoted-printable", "base64", "8bit"):
                mail = campaign_mail(forms=(form,), html=html, cte=cte, split_key=cte == "quoted-printable")
                yield f"{form}-{'html' if html else 'text'}-{cte}", _crlf(_inline_after_keyless(mail))
        # A copy of a bounce that quotes the campaign mail in turn.
        yield f"{form}-nested-qmail", _crlf(_inline_after_keyless(wrap_qmail(campaign_mail(forms=(form,)))))
    # Quoted-printable left in place, its Content-Transfer-Encoding header lost.
    left = campaign_mail(forms=("opt-out",), html=False, split_key=True)
    left = left.replace("Content-Transfer-Encoding: quoted-printable\n", "")
    yield "qp-left-in-place", _crlf(_inline_after_keyless(left))
    # Charsets that do not write ASCII as ASCII, the body's bytes written raw.
    link = f"https://crm.example-ngo.org/index.php?entryPoint=removeme&identifier={KEY}\n"
    for charset in ("utf-16", "utf-16-le", "cp500", "utf-7"):
        head = campaign_mail(forms=(), html=False, charset=charset, cte="8bit").split("\n\n", 1)[0]
        raw = _crlf(_inline_after_keyless(head + "\n\nRAW-BODY\n")).replace(b"RAW-BODY", link.encode(charset))
        yield f"raw-{charset}", raw
    # An inline copy of an HTML report whose own copy spells the link with an entity.
    html_report = (
        "From: MAILER-DAEMON@mx.example.net\nMessage-ID: <r.1@mx>\nX-Failed-Recipients: x@example.net\n"
        "Content-Type: text/html\n\n<p>copy:</p><pre>\nReceived: from a by b\nMessage-ID: <c.1@crm>\n\n"
        f"https://crm.example-ngo.org/index.php?entryPoint=removeme&amp;&#105;dentifier={KEY}</pre>\n"
    )
    yield "html-entity-in-nested-report", _crlf(_inline_after_keyless(html_report))


def _generated() -> Iterator[tuple[str, bytes]]:
    for wrapper in WRAPPERS:
        for form in ALL_FORMS:
            yield f"{wrapper.name}-{form}", _crlf(wrapper.wrap(campaign_mail(forms=(form,))))
        yield f"{wrapper.name}-keyless", _crlf(wrapper.wrap(KEYLESS))
        # A keyless copy after a keyless original: the one the shortcut skips.
        plain = campaign_mail(forms=(), html=False, cte="8bit")
        yield f"{wrapper.name}-keyless-after-keyless", _crlf(_inline_after_keyless(wrapper.wrap(plain)))
        # The key behind a keyless original: the second copy must still be read.
        yield f"{wrapper.name}-after-keyless", _crlf(_inline_after_keyless(wrapper.wrap(campaign_mail())))
    yield from _copies_with_keys()
    yield "bounce-of-bounce-of-bounce", _crlf(wrap_rfc822(wrap_rfc822(wrap_rfc822(campaign_mail()))))


GENERATED = list(_generated())


def _parsers() -> tuple[tuple[str, object], ...]:
    return (("compat32", lambda raw: email.message_from_bytes(raw, policy=compat32)), ("fastparse", fastparse.parse))


def _both_ways(msg_of: object, raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert callable(msg_of)
    for options in (AnalysisOptions(), PATTERNS):
        quick = find_campaign(msg_of(raw), options)
        with monkeypatch.context() as patched:
            patched.setattr(original, "_may_hold_key", lambda lowered, start: True)
            patched.setattr(campaign, "may_return_copies", lambda msg, inline, walks: True)
            thorough = find_campaign(msg_of(raw), options)
        assert quick == thorough


@pytest.mark.parametrize("parser", _parsers(), ids=lambda p: p[0])
def test_shortcuts_change_nothing_on_real_messages(parser: tuple[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    assert REAL_MESSAGES
    for path in REAL_MESSAGES:
        _both_ways(parser[1], path.read_bytes(), monkeypatch)


@pytest.mark.parametrize("parser", _parsers(), ids=lambda p: p[0])
@pytest.mark.parametrize(("name", "raw"), GENERATED, ids=[name for name, _ in GENERATED])
def test_shortcuts_change_nothing_on_generated_reports(
    name: str, raw: bytes, parser: tuple[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    _both_ways(parser[1], raw, monkeypatch)


def test_the_generated_copies_hold_keys_the_shortcut_must_not_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every copy above yields KEY, and the shortcut is asked about them (and skips others)."""
    answers: list[bool] = []
    may_hold_key = original._may_hold_key

    def recorded(lowered: bytes, start: int) -> bool:
        answers.append(may_hold_key(lowered, start))
        return answers[-1]

    monkeypatch.setattr(original, "_may_hold_key", recorded)
    for name, raw in _copies_with_keys():
        assert find_campaign(fastparse.parse(raw), AnalysisOptions()).tracker_key == KEY, name
    assert True in answers
    answers.clear()
    for _, raw in GENERATED:
        find_campaign(fastparse.parse(raw), AnalysisOptions())
    assert False in answers


def test_may_return_copies_is_false_only_when_nothing_is_returned() -> None:
    """Every original met in the corpus and the generated reports: a False is never wrong."""
    checked = 0
    for raw in [path.read_bytes() for path in REAL_MESSAGES] + [raw for _, raw in GENERATED]:
        report: Message = fastparse.parse(raw)
        walks = original.PartWalks()
        level = [found for found, _ in original.returned_copies(report, True, walks)]
        for depth in range(2):
            inner: list[Message] = []
            for msg in level:
                for inline in (False, True):
                    copies = [found for found, _ in original.returned_copies(msg, inline, original.PartWalks())]
                    if not original.may_return_copies(msg, inline, walks):
                        checked += 1
                        assert copies == []
                    if inline:
                        inner.extend(copies)
            level = inner
            assert depth < 2
    assert checked > 100


@pytest.mark.parametrize("parser", _parsers(), ids=lambda p: p[0])
def test_parts_of_a_multipart_root_read_from_its_content_type_alone(parser: tuple[str, object]) -> None:
    """_parts skips the header map of a multipart root: the same parts as with it read."""
    msg_of = parser[1]
    assert callable(msg_of)
    for raw in [path.read_bytes() for path in REAL_MESSAGES] + [raw for _, raw in GENERATED]:
        msg = msg_of(raw)
        quick = original._parts(msg)
        thorough = original._parts(msg, original._header_map(msg))
        assert [(p.message, p.ctype, p.headers) for p in quick] == [(p.message, p.ctype, p.headers) for p in thorough]
