"""A report a person forwarded is analysed as the report it carries; a forwarded person's
mail stays a person's mail."""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest

from bouncer.analysis import Kind, analyse

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "campaign"
EXIM_KEY = "0b8e4d21-7c3f-4a95-8e12-6f0d9c3b2a71"

# How mail clients introduce an inline forward: a marker line, then a header block.
CLIENT_BLOCKS = {
    "gmail": ("---------- Forwarded message ---------", ("From", "Date", "Subject", "To")),
    "thunderbird": ("-------- Forwarded Message --------", ("Subject", "Date", "From", "To")),
    "outlook-es": ("________________________________", ("De", "Enviado el", "Para", "Asunto")),
    "outlook-fr": ("-----Message d'origine-----", ("De ", "Envoyé ", "À ", "Objet ")),
    "outlook-ca": ("-----Missatge original-----", ("De", "Enviat el", "Per a", "Assumpte")),
}


def _fixture(name: str) -> Message:
    return message_from_bytes((FIXTURES / name).read_bytes(), policy=compat32)


def _text_of(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8", "replace")


def _inline_forward(report: Message, client: str, *, quote: str = "") -> bytes:
    marker, names = CLIENT_BLOCKS[client]
    values = (report["From"], report["Date"], report["Subject"], report["To"])
    order = {"From": 0, "Date": 1, "Subject": 2, "To": 3}
    english = ("From", "Date", "Subject", "To")
    canonical = dict(zip(("De", "Enviado el", "Para", "Asunto"), ("From", "Date", "To", "Subject"), strict=True))
    canonical |= dict(zip(("De ", "Envoyé ", "À ", "Objet "), ("From", "Date", "To", "Subject"), strict=True))
    canonical |= dict(zip(("De", "Enviat el", "Per a", "Assumpte"), ("From", "Date", "To", "Subject"), strict=True))
    block = []
    for name in names:
        key = name if name in english else canonical[name]
        block.append(f"{quote}{name}: {values[order[key]]}")
    body = [f"{quote}{line}".rstrip() if line else quote.rstrip() for line in _text_of(report).split("\n")]
    text = "\n".join(["Us reenvio aquest avís, no sé què vol dir.", "", marker, *block, quote.rstrip(), *body])
    return (
        "From: Marta Puig <marta.puig@associacio-exemple.cat>\n"
        "To: rebots@associacio-exemple.cat\n"
        f"Subject: Fwd: {report['Subject']}\n"
        "Date: Thu, 26 Nov 2026 10:12:00 +0100\n"
        "Message-ID: <fwd-1@associacio-exemple.cat>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\n" + text + "\n"
    ).encode()


@pytest.mark.parametrize("client", sorted(CLIENT_BLOCKS))
def test_an_inline_forward_of_a_bounce_is_the_bounce(client: str) -> None:
    result = analyse(_inline_forward(_fixture("bounce-exim-headers-inline.eml"), client))
    assert result.kind is Kind.BOUNCE
    assert [r.address for r in result.recipients] == ["jordi.serra@example.com"]
    assert result.recipients[0].hard
    assert result.tracker_key == EXIM_KEY  # from the original the forwarded bounce quotes
    assert result.forwarded
    assert result.mail_system is not None and result.mail_system.endswith("(forwarded)")
    # the inbound message is the forward
    assert result.message_id == "<fwd-1@associacio-exemple.cat>"
    assert result.from_address is not None and "marta.puig" in result.from_address


def test_a_quoted_forward_of_a_bounce_is_the_bounce() -> None:
    """Apple Mail quotes the forwarded message with "> "; deeper quotes inside it stay."""
    result = analyse(_inline_forward(_fixture("bounce-exim-headers-inline.eml"), "gmail", quote="> "))
    assert result.kind is Kind.BOUNCE
    assert [r.address for r in result.recipients] == ["jordi.serra@example.com"]
    assert result.tracker_key == EXIM_KEY


def test_a_forward_as_attachment_of_a_bounce_is_the_bounce() -> None:
    bounce = (FIXTURES / "bounce-postfix-rfc822.eml").read_bytes()
    direct = analyse(bounce)
    forward = (
        b"From: Marta Puig <marta.puig@associacio-exemple.cat>\n"
        b"To: rebots@associacio-exemple.cat\n"
        b"Subject: Fwd: Undelivered Mail Returned to Sender\n"
        b"Message-ID: <fwd-2@associacio-exemple.cat>\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="fwd"\n\n'
        b"--fwd\nContent-Type: text/plain; charset=utf-8\n\nMira aquest rebot.\n"
        b"--fwd\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n" + bounce + b"\n--fwd--\n"
    )
    result = analyse(forward)
    assert direct.kind is Kind.BOUNCE and direct.tracker_key is not None
    assert result.kind is direct.kind
    assert result.recipients == direct.recipients
    assert result.tracker_key == direct.tracker_key
    assert result.forwarded and not direct.forwarded


@pytest.mark.parametrize(
    "fixture",
    [
        "sinergiacrm-campaign.eml",
        "sinergiacrm-text-only.eml",
        "autoreply-ooo-quoting-campaign.eml",
        "postmaster-notice.eml",
    ],
)
def test_a_forward_of_anything_but_a_report_is_a_persons_mail(fixture: str) -> None:
    msg = _fixture(fixture)
    if msg.is_multipart():  # forward the text part
        text_part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
        text_part["From"], text_part["Date"] = msg["From"], msg["Date"]
        text_part["Subject"], text_part["To"] = msg["Subject"], msg["To"]
        msg = text_part
    result = analyse(_inline_forward(msg, "gmail"))
    assert result.kind is Kind.NOT_BOUNCE
    assert result.recipients == () and result.tracker_key is None
    assert not result.forwarded


def test_an_inline_forward_that_attaches_the_returned_original_reads_its_key() -> None:
    """Gmail forwards a bounce's text inline and its attachments (the campaign mail) as such."""
    bounce = _fixture("bounce-postfix-rfc822.eml")
    text = next(p for p in bounce.walk() if p.get_content_type() == "text/plain")
    original = next(p for p in bounce.walk() if p.get_content_type() == "message/rfc822")
    for name in ("From", "Date", "Subject", "To"):
        text[name] = bounce[name]
    forward = message_from_bytes(_inline_forward(text, "gmail"), policy=compat32)
    outer = (
        b"".join(f"{name}: {value}\n".encode() for name, value in forward.items() if name != "Content-Type")
        + b'Content-Type: multipart/mixed; boundary="fwd"\n\n--fwd\nContent-Type: text/plain; charset=utf-8\n\n'
        + forward.get_payload(decode=True)
        + b"\n--fwd\n"
        + original.as_bytes()
        + b"\n--fwd--\n"
    )
    result = analyse(outer)
    direct = analyse((FIXTURES / "bounce-postfix-rfc822.eml").read_bytes())
    assert result.kind is Kind.BOUNCE and result.forwarded
    assert [r.address for r in result.recipients] == [r.address for r in direct.recipients]
    assert result.tracker_key == direct.tracker_key is not None
