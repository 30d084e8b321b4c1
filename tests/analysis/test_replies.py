"""A person's reply that quotes a bounce ("> " lines) is a person's mail, not that bounce.

Staff reply to a bounce ("what does this mean?") with the group inbox in copy; taking the
reply for the bounce would record its failures a second time, and the quoted original's
sender as a failed recipient. A bounce whose own subject starts with "Re:" (a mail system
that keeps the original's subject) still is one: only quoted lines stop counting.
"""

from __future__ import annotations

from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from bouncer.analysis import Kind, analyse

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "sisimai" / "emails"
TEXT_FORMATS = ("Exim", "qmail", "Sendmail", "text", "Gmail")


def _plain_text_bounces() -> list[Path]:
    """Corpus bounces of the text formats whose whole body is one text/plain part."""
    found = []
    for path in sorted(CORPUS.glob("*.eml")):
        raw = path.read_bytes()
        msg = message_from_bytes(raw, policy=compat32)
        if msg.is_multipart() or msg.get_content_type() != "text/plain":
            continue
        result = analyse(raw)
        if result.kind is Kind.BOUNCE and result.mail_system in TEXT_FORMATS:
            found.append(path)
    return found


PLAIN_TEXT_BOUNCES = _plain_text_bounces()


def _body(path: Path) -> str:
    payload = message_from_bytes(path.read_bytes(), policy=compat32).get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8", "replace")


def _reply(subject: str, text: str) -> bytes:
    return (
        f"From: Ana Puig <ana@example.org>\nTo: butlleti@ngo.example\nSubject: {subject}\n"
        "Message-ID: <reply-1@example.org>\nIn-Reply-To: <bounce-1@mx.example.net>\n"
        "Date: Mon, 2 Nov 2026 10:00:00 +0100\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        f"Hi, I got this back. What does it mean?\n\nOn Mon, Mail Delivery System wrote:\n{text}"
    ).encode()


def _quoted(text: str, prefix: str = "> ") -> str:
    return "".join(prefix + line + "\n" for line in text.splitlines())


def test_the_corpus_gives_text_bounces_of_several_systems() -> None:
    assert len(PLAIN_TEXT_BOUNCES) >= 20
    systems = {analyse(p.read_bytes()).mail_system for p in PLAIN_TEXT_BOUNCES}
    assert len(systems) >= 3


@pytest.mark.parametrize("prefix", ["Re: ", "RE: ", "AW: ", "SV: ", "Antw: ", "R: ", "RES: ", "[butlleti] Re: "])
def test_a_reply_quoting_a_bounce_is_a_persons_mail(prefix: str) -> None:
    for path in PLAIN_TEXT_BOUNCES:
        for quote in ("> ", ">"):
            result = analyse(_reply(prefix + "Undelivered Mail", _quoted(_body(path), quote)))
            assert result.kind is Kind.NOT_BOUNCE, (path.name, prefix, quote)
            assert result.recipients == ()


def test_the_same_text_unquoted_in_a_reply_subject_still_reads_as_a_bounce() -> None:
    """The control: what stops the quoted bounce is the quoting, not the subject."""
    bounces = 0
    for path in PLAIN_TEXT_BOUNCES:
        expected = {r.address for r in analyse(path.read_bytes()).recipients}
        msg = message_from_bytes(path.read_bytes(), policy=compat32)
        del msg["Subject"]
        msg["Subject"] = "Re: Undelivered Mail"
        result = analyse(msg.as_bytes())
        if result.kind is Kind.BOUNCE and {r.address for r in result.recipients} == expected:
            bounces += 1
    assert bounces == len(PLAIN_TEXT_BOUNCES)


def test_a_report_quoting_lines_is_read_whole() -> None:
    """A machine's report (a null return path here) keeps its quoted lines: Sendmail's
    transcript quotes the session with ">>>", and some systems quote the server's reply."""
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nReturn-Path: <>\nSubject: Re: Returned mail\n\n"
        b"----- The following addresses had permanent fatal errors -----\n<gone@example.org>\n\n"
        b"----- Transcript of session follows -----\n>>> RCPT To:<gone@example.org>\n"
        b"<<< 550 5.1.1 <gone@example.org>... User unknown\n550 5.1.1 <gone@example.org>... User unknown\n"
    )
    result = analyse(raw)
    assert result.kind is Kind.BOUNCE
    assert [r.address for r in result.recipients] == ["gone@example.org"]
