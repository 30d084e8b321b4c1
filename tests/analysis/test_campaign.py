"""Campaign tracker keys: every form the CRM writes, inside every wrapper a report uses.

Campaign mails are built here the way SinergiaCRM (SuiteCRM + PHPMailer) builds them, then
wrapped the ways mail systems return an original: whole (message/rfc822, also wrongly
base64-encoded, also nested), headers only (text/rfc822-headers), quoted inline (qmail, Exim,
Sendmail, Office 365), attached as a file (details.txt, .eml), ... Every key form is crossed
with every wrapper. Committed .eml files in tests/fixtures/campaign add hand-written, realistic
samples, and the negatives: mail whose own text carries a key must never yield it.
"""

from __future__ import annotations

import base64
import email
import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest

from bouncer.analysis import AnalysisOptions, analyse
from bouncer.analysis.campaign import CampaignRef, find_campaign
from bouncer.analysis.taxonomy import Kind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "campaign"

SITE = "https://crm.example-ngo.org/sinergiacrm/"
KEY = "3b9f1c2d-8e4a-d7b6-a5c4-0f1e2d3c4b5a"  # shaped like a UUID, not an RFC 4122 one
OTHER_KEY = "d0c1b2a3-9f8e-4d7c-b6a5-e4f3a2b1c0d9"
TRACKER_ID = "7e6d5c4b-3a29-1807-f6e5-d4c3b2a19080"  # a tracked URL's id: never the key
MESSAGE_ID = "<a9Xk2LmQ7rT4@crm.example-ngo.org>"
RECIPIENT = "laia.vila@example.net"

OPTIONS = AnalysisOptions()

# The places the CRM writes the key.
HEADER, LIST_UNSUBSCRIBE, OPT_OUT, TRACKED, PIXEL = "header", "list-unsubscribe", "opt-out", "tracked", "pixel"
HEADER_FORMS = (HEADER, LIST_UNSUBSCRIBE)
BODY_FORMS = (OPT_OUT, TRACKED, PIXEL)
ALL_FORMS = HEADER_FORMS + BODY_FORMS


# --- campaign mails, as the CRM builds them -----------------------------------------------------


def _link(entry_point: str, key: str, *, html: bool, track: bool = False) -> str:
    amp = "&amp;" if html else "&"
    track_param = f"{amp}track={TRACKER_ID}" if track else ""
    return f"{SITE}index.php?entryPoint={entry_point}{track_param}{amp}identifier={key}"


def _qp(text: str, charset: str, split_inside: str | None) -> str:
    encoded = quopri.encodestring(text.replace("\r\n", "\n").encode(charset)).decode("ascii")
    if split_inside and split_inside in encoded:
        # Put a soft line break inside the key itself, as a QP encoder wrapping at 76 does
        # whenever the key happens to straddle the line end.
        encoded = encoded.replace(split_inside, split_inside[:13] + "=\n" + split_inside[13:], 1)
    return encoded


def _encode_body(text: str, charset: str, cte: str, split_inside: str | None) -> str:
    if cte == "quoted-printable":
        return _qp(text, charset, split_inside)
    if cte == "base64":
        return base64.encodebytes(text.encode(charset)).decode("ascii")
    return text


def campaign_mail(
    key: str = KEY,
    *,
    forms: tuple[str, ...] = ALL_FORMS,
    html: bool = True,
    charset: str = "utf-8",
    cte: str = "quoted-printable",
    split_key: bool = False,
    body_key: str | None = None,
    extra_headers: str = "",
) -> str:
    """A campaign mail carrying ``key`` in ``forms``. ``html=False`` is a text-only template."""
    link_key = body_key or key
    headers = [
        "Date: Tue, 24 Nov 2026 10:15:02 +0100",
        f"To: Laia Vila <{RECIPIENT}>",
        "From: =?UTF-8?Q?Associaci=C3=B3_Exemple?= <news@example-ngo.org>",
        "Subject: =?UTF-8?Q?Butllet=C3=AD_de_tardor?=",
        f"Message-ID: {MESSAGE_ID}",
        "X-Mailer: PHPMailer 6.8.1 (https://github.com/PHPMailer/PHPMailer)",
    ]
    if HEADER in forms:
        headers.append(f"X-CampTrackID: {key}")
    if LIST_UNSUBSCRIBE in forms:
        headers.append(f"List-Unsubscribe: <{_link('removemeConfirmed', key, html=False)}>")
    if extra_headers:
        headers.append(extra_headers.rstrip("\n"))
    headers.append("MIME-Version: 1.0")

    plain = ["Bon dia Laia,", "", "La tardor arriba amb activitats per a tothom: tallers, xerrades i més.", ""]
    if TRACKED in forms:
        plain.append(f"Programa complet: {_link('campaign_trackerv2', link_key, html=False, track=True)}")
    if OPT_OUT in forms:
        plain.append(f"Per donar-vos de baixa: {_link('removeme', link_key, html=False)}")
    plain_text = "\n".join(plain) + "\n"
    split = link_key if split_key else None

    if not html:
        return (
            "\n".join(headers)
            + f"\nContent-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n"
            + _encode_body(plain_text, charset, cte, split)
        )

    rows = ["<html><body>", "<h1>Butlletí de tardor</h1>", "<p>Bon dia Laia,</p>", "<p>Activitats per a tothom.</p>"]
    if TRACKED in forms:
        rows.append(f'<p><a href="{_link("campaign_trackerv2", link_key, html=True, track=True)}">Programa</a></p>')
    if OPT_OUT in forms:
        rows.append(f'<p style="font-size:11px"><a href="{_link("removeme", link_key, html=True)}">Baixa</a></p>')
    if PIXEL in forms:
        rows.append(f'<img height="1" width="1" src="{_link("image", link_key, html=True)}">')
    rows.append("</body></html>")
    html_text = "\n".join(rows) + "\n"
    boundary = "b1_a9Xk2LmQ7rT4"
    return (
        "\n".join(headers)
        + f'\nContent-Type: multipart/alternative;\n boundary="{boundary}"\n\n'
        + "This is a multi-part message in MIME format.\n"
        + f"--{boundary}\nContent-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n"
        + _encode_body(plain_text, charset, cte, split)
        + f"\n--{boundary}\nContent-Type: text/html; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n"
        + _encode_body(html_text, charset, cte, split)
        + f"\n--{boundary}--\n"
    )


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogateescape")


def _headers_of(original: str) -> str:
    return original.replace("\r\n", "\n").split("\n\n", 1)[0] + "\n"


# --- reports, wrapping an original the ways mail systems do -----------------------------------

_REPORT_HEAD = """Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.example-ngo.org>
To: news@example-ngo.org
Subject: Undelivered Mail Returned to Sender
Date: Tue, 24 Nov 2026 10:15:09 +0100
Message-ID: <20261124091509.4F2A81C0031@mx.example-ngo.org>
Auto-Submitted: auto-replied
MIME-Version: 1.0
"""
_NOTICE = f"""This is the mail system at host mx.example-ngo.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{RECIPIENT}>: host mx.example.net[192.0.2.25] said: 550 5.1.1
    <{RECIPIENT}>: Recipient address rejected: User unknown (in reply to RCPT TO
    command)
"""
_STATUS = f"""Reporting-MTA: dns; mx.example-ngo.org
Arrival-Date: Tue, 24 Nov 2026 10:15:02 +0100 (CET)

Final-Recipient: rfc822; {RECIPIENT}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 550 5.1.1 <{RECIPIENT}>: Recipient address rejected: User unknown
"""


def _report(last_part: str, *, notice: str = _NOTICE, boundary: str = "4F2A81C0031.1795515309/mx") -> str:
    return (
        _REPORT_HEAD
        + f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"\n\n'
        + "This is a MIME-encapsulated message.\n\n"
        + f"--{boundary}\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        + notice
        + f"\n--{boundary}\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        + _STATUS
        + f"\n--{boundary}\n"
        + last_part
        + f"\n--{boundary}--\n"
    )


def wrap_rfc822(original: str) -> str:
    return _report("Content-Description: Undelivered Message\nContent-Type: message/rfc822\n\n" + original)


def wrap_rfc822_base64(original: str) -> str:
    encoded = base64.encodebytes(_crlf(original)).decode("ascii")
    return _report("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + encoded)


def wrap_rfc822_nested(original: str) -> str:
    """A multipart/mixed around the report (as some gateways add a disclaimer)."""
    report = wrap_rfc822(original).split("MIME-Version: 1.0\n", 1)[1]
    return (
        _REPORT_HEAD
        + 'Content-Type: multipart/mixed; boundary="outer-7731"\n\n'
        + "--outer-7731\nContent-Type: text/plain; charset=us-ascii\n\nScanned by MailGuard.\n\n"
        + "--outer-7731\n"
        + report
        + "\n--outer-7731--\n"
    )


def wrap_bounce_of_bounce(original: str) -> str:
    """The original comes back inside a bounce that itself came back (a relay's double bounce)."""
    inner = wrap_rfc822(original).replace("4F2A81C0031.1795515309/mx", "inner-5521")
    return _report("Content-Type: message/rfc822\n\n" + inner, boundary="outer-9911")


def wrap_bounce_of_inline_bounce(original: str) -> str:
    """A qmail bounce (the original quoted inline) returned inside another report."""
    return _report("Content-Type: message/rfc822\n\n" + wrap_qmail(original), boundary="outer-4417")


def wrap_headers_part(original: str) -> str:
    return _report("Content-Type: text/rfc822-headers\n\n" + _headers_of(original))


def wrap_headerless_part(original: str) -> str:
    """The original written straight after a boundary, without MIME headers of its own."""
    return (
        _REPORT_HEAD
        + 'Content-Type: multipart/mixed; boundary="---fff000"\n\n'
        + f"-----fff000\nContent-Type: text/plain; charset=us-ascii\n\n{_NOTICE}\n"
        + "-----fff000\n"
        + "Received: from crm.example-ngo.org (198.51.100.7) by mx.example-ngo.org; Tue, 24 Nov 2026\n"
        + original
        + "\n-----fff000--\n"
    )


def _plain_report(text: str, *, charset: str = "us-ascii", cte: str = "7bit") -> str:
    return (
        _REPORT_HEAD
        + f"X-Failed-Recipients: {RECIPIENT}\n"
        + f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n"
        + text
    )


def wrap_qmail(original: str) -> str:
    return _plain_report(
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{RECIPIENT}>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n"
        "Return-Path: <news@example-ngo.org>\n"
        "Received: (qmail 28105 invoked from network); 24 Nov 2026 09:15:10 -0000\n" + original
    )


def wrap_exim(original: str) -> str:
    return _plain_report(
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {RECIPIENT}\n    host mx.example.net [192.0.2.25]\n"
        f"    SMTP error from remote mail server after RCPT TO:<{RECIPIENT}>:\n"
        "    550 5.1.1 User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        "Return-path: <news@example-ngo.org>\n"
        "Received: from crm.example-ngo.org ([198.51.100.7])\n\tby mx.example-ngo.org with esmtpsa (Exim 4.96)\n"
        "\tid 1tFq2w-0003vP-2b; Tue, 24 Nov 2026 10:15:02 +0100\n" + original
    )


def wrap_exim_headers(original: str) -> str:
    return _plain_report(
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        f"recipients. This is a permanent error. The following address(es) failed:\n\n  {RECIPIENT}\n"
        "    550 5.1.1 User unknown\n\n"
        "------ This is a copy of the message's headers. ------\n\n" + _headers_of(original)
    )


def wrap_sendmail_unsent(original: str) -> str:
    return _plain_report(
        "The original message was received at Tue, 24 Nov 2026 10:15:02 +0100\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        f"<{RECIPIENT}>\n\n   ----- Transcript of session follows -----\n"
        f"550 5.1.1 <{RECIPIENT}>... User unknown\n\n"
        "   ----- Unsent message follows -----\n"
        "Received: from crm.example-ngo.org by mx.example-ngo.org (8.17.1/8.17.1); Tue, 24 Nov 2026\n" + original
    )


def wrap_office365_headers(original: str) -> str:
    """Office 365: "Original message headers:" in a QP text part, names lower-cased."""
    lowered = re.sub(r"(?m)^([A-Za-z-]+):", lambda m: m.group(1).lower() + ":", _headers_of(original))
    text = (
        f"Your message to {RECIPIENT} couldn't be delivered.\n\n"
        "Diagnostic information for administrators:\n\n"
        "Generating server: AM6PR03MB5138.eurprd03.prod.outlook.com\n"
        f"Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {RECIPIENT} not found'\n\n"
        "Original message headers:\n\n"
        "Received: from crm.example-ngo.org (198.51.100.7) by AM6PR03MB5138.mail.protection.outlook.com\n"
        " with Microsoft SMTP Server; Tue, 24 Nov 2026 09:15:03 +0000\n"
        "X-MS-Exchange-Organization-Network-Message-Id: 6b2d9f1e-04a3-4c8b-9e7d-2f1a0c3b5d68\n" + lowered
    )
    return _plain_report(quopri.encodestring(text.encode()).decode("ascii"), cte="quoted-printable")


def wrap_inline_qp(original: str) -> str:
    """A qmail-style copy inside a quoted-printable report: the encoder wraps long lines, keys too."""
    copy = wrap_qmail(original).split("\n\n", 1)[1]
    return _plain_report(_qp(copy, "utf-8", KEY), cte="quoted-printable")


def wrap_office365_html_only(original: str) -> str:
    """An NDR whose only text is HTML: the headers in a <pre>, escaped, names lower-cased."""
    lowered = re.sub(r"(?m)^([A-Za-z-]+):", lambda m: m.group(1).lower() + ":", _headers_of(original))
    escaped = lowered.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = (
        '<html><body><p><b><font color="#000066">Your message to '
        f"{RECIPIENT} couldn't be delivered.</font></b></p>\n"
        "<p>Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound'</p>\n"
        "<p>Original message headers:</p>\n<pre>"
        "Received: from crm.example-ngo.org (198.51.100.7) by AM6PR03MB5138.outlook.com\n"
        " with Microsoft SMTP Server; Tue, 24 Nov 2026 09:15:03 +0000\n" + escaped + "</pre>\n</body></html>\n"
    )
    return (
        _REPORT_HEAD
        + 'Content-Type: multipart/report; report-type=delivery-status; boundary="ndr"\n\n'
        + "--ndr\nContent-Type: text/html; charset=us-ascii\n\n"
        + body
        + "\n--ndr\nContent-Type: message/delivery-status\n\n"
        + _STATUS
        + "\n--ndr--\n"
    )


def _attachment_report(part: str) -> str:
    return (
        _REPORT_HEAD
        + f"X-Failed-Recipients: {RECIPIENT}\n"
        + 'Content-Type: multipart/mixed; boundary="----=_NextPart_83412"\n\n'
        + f"------=_NextPart_83412\nContent-Type: text/plain; charset=us-ascii\n\n{_NOTICE}\n"
        + "The original message is attached.\n\n"
        + "------=_NextPart_83412\n"
        + part
        + "\n------=_NextPart_83412--\n"
    )


def wrap_details_txt(original: str) -> str:
    encoded = base64.encodebytes(_crlf(original)).decode("ascii")
    return _attachment_report(
        'Content-Type: application/octet-stream; name="details.txt"\n'
        'Content-Disposition: attachment; filename="details.txt"\n'
        "Content-Transfer-Encoding: base64\n\n" + encoded
    )


def wrap_text_attachment(original: str) -> str:
    return _attachment_report(
        'Content-Type: text/plain; charset=utf-8; name="details.txt"\n'
        'Content-Disposition: attachment; filename="details.txt"\n\n' + original
    )


def wrap_eml_attachment(original: str) -> str:
    encoded = base64.encodebytes(_crlf(original)).decode("ascii")
    return _attachment_report(
        'Content-Type: application/octet-stream; name="original.eml"\n'
        'Content-Disposition: attachment; filename="original.eml"\n'
        "Content-Transfer-Encoding: base64\n\n" + encoded
    )


@dataclass(frozen=True)
class Wrapper:
    name: str
    wrap: Callable[[str], str]
    carries_body: bool  # False: the report returns the original's headers only


WRAPPERS = (
    Wrapper("message/rfc822", wrap_rfc822, True),
    Wrapper("message/rfc822 wrongly base64", wrap_rfc822_base64, True),
    Wrapper("message/rfc822 in multipart/mixed", wrap_rfc822_nested, True),
    Wrapper("bounce of a bounce", wrap_bounce_of_bounce, True),
    Wrapper("bounce of an inline bounce", wrap_bounce_of_inline_bounce, True),
    Wrapper("text/rfc822-headers", wrap_headers_part, False),
    Wrapper("part without MIME headers", wrap_headerless_part, True),
    Wrapper("qmail inline", wrap_qmail, True),
    Wrapper("exim inline", wrap_exim, True),
    Wrapper("exim headers inline", wrap_exim_headers, False),
    Wrapper("sendmail unsent message", wrap_sendmail_unsent, True),
    Wrapper("office 365 original headers", wrap_office365_headers, False),
    Wrapper("office 365 html only", wrap_office365_html_only, False),
    Wrapper("inline copy in a QP report", wrap_inline_qp, True),
    Wrapper("details.txt octet-stream", wrap_details_txt, True),
    Wrapper("details.txt text attachment", wrap_text_attachment, True),
    Wrapper(".eml octet-stream", wrap_eml_attachment, True),
)


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=compat32)


def _find(report: str | bytes, options: AnalysisOptions = OPTIONS) -> CampaignRef:
    raw = report if isinstance(report, bytes) else _crlf(report)
    return find_campaign(_parse(raw), options)


# --- every key form x every wrapper ---------------------------------------------------------------


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.name)
@pytest.mark.parametrize("form", ALL_FORMS)
def test_each_key_form_in_each_wrapper(form: str, wrapper: Wrapper) -> None:
    found = _find(wrapper.wrap(campaign_mail(forms=(form,))))
    if form in HEADER_FORMS or wrapper.carries_body:
        assert found == CampaignRef(KEY, MESSAGE_ID)
    else:  # the body is not in the report: the key is not there to be found, and never guessed
        assert found == CampaignRef(None, MESSAGE_ID)


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.name)
def test_text_only_template_carries_the_key_in_headers(wrapper: Wrapper) -> None:
    original = campaign_mail(forms=HEADER_FORMS, html=False, cte="8bit")
    assert _find(wrapper.wrap(original)) == CampaignRef(KEY, MESSAGE_ID)


@pytest.mark.parametrize("wrapper", [w for w in WRAPPERS if w.carries_body], ids=lambda w: w.name)
@pytest.mark.parametrize("form", BODY_FORMS)
def test_soft_line_break_inside_the_key(form: str, wrapper: Wrapper) -> None:
    original = campaign_mail(forms=(form,), split_key=True)
    assert KEY not in original  # the QP encoding really splits the key
    assert _find(wrapper.wrap(original)).tracker_key == KEY


@pytest.mark.parametrize(
    ("charset", "cte"),
    [
        ("iso-8859-1", "quoted-printable"),
        ("windows-1252", "8bit"),
        ("iso-8859-15", "base64"),
        ("utf-16", "base64"),
        ("utf-8", "base64"),
    ],
)
@pytest.mark.parametrize("wrapper", [w for w in WRAPPERS if w.carries_body], ids=lambda w: w.name)
def test_any_charset_and_transfer_encoding(charset: str, cte: str, wrapper: Wrapper) -> None:
    original = campaign_mail(forms=(OPT_OUT,), charset=charset, cte=cte)
    raw = (
        _crlf(wrapper.wrap(original)) if cte != "8bit" else wrapper.wrap(original).replace("\n", "\r\n").encode(charset)
    )
    assert _find(raw).tracker_key == KEY


@pytest.mark.parametrize("wrapper", [wrap_rfc822, wrap_qmail], ids=["message/rfc822", "qmail inline"])
def test_quoted_printable_left_encoded_is_still_read(wrapper: Callable[[str], str]) -> None:
    # A copy that lost its Content-Transfer-Encoding headers: "=3D" and soft breaks remain.
    original = campaign_mail(forms=(OPT_OUT,), split_key=True).replace(
        "Content-Transfer-Encoding: quoted-printable\n", ""
    )
    assert "=3D" in original
    assert KEY not in original
    assert _find(wrapper(original)).tracker_key == KEY


def test_report_in_a_legacy_charset_quoting_the_original() -> None:
    report = wrap_qmail(campaign_mail(forms=(OPT_OUT,), cte="8bit", charset="iso-8859-1"))
    report = report.replace(
        "Content-Type: text/plain; charset=us-ascii", "Content-Type: text/plain; charset=iso-8859-1"
    )
    raw = report.replace("\n", "\r\n").encode("iso-8859-1")
    assert b"\xe9s" in raw  # "més", in Latin-1 bytes
    assert _find(raw).tracker_key == KEY


def test_header_key_wins_over_other_keys() -> None:
    original = campaign_mail(forms=ALL_FORMS, body_key=OTHER_KEY)
    assert _find(wrap_rfc822(original)).tracker_key == KEY
    unsub_and_body = campaign_mail(forms=(LIST_UNSUBSCRIBE, OPT_OUT, PIXEL), body_key=OTHER_KEY)
    assert _find(wrap_rfc822(unsub_and_body)).tracker_key == KEY
    body_only = campaign_mail(forms=(OPT_OUT,), body_key=OTHER_KEY)
    assert _find(wrap_rfc822(body_only)).tracker_key == OTHER_KEY


def test_lower_cased_header_name_and_upper_cased_key() -> None:
    original = campaign_mail(forms=()).replace("MIME-Version", f"x-camptrackid: {KEY.upper()}\nMIME-Version", 1)
    assert _find(wrap_rfc822(original)).tracker_key == KEY


def test_campaign_mail_marked_auto_generated_is_still_read() -> None:
    # Some mass mailers mark newsletters "Auto-Submitted: auto-generated" (RFC 3834 allows it);
    # that does not make the returned original a report whose text must be ignored.
    original = campaign_mail(forms=(OPT_OUT,), extra_headers="Auto-Submitted: auto-generated")
    assert _find(wrap_rfc822(original)) == CampaignRef(KEY, MESSAGE_ID)


def test_tracker_id_of_a_tracked_link_is_not_the_key() -> None:
    # The track= parameter is a UUID too: only identifier= names the recipient's key.
    original = campaign_mail(forms=(TRACKED,))
    assert TRACKER_ID in original
    assert _find(wrap_qmail(original)).tracker_key == KEY


@pytest.mark.parametrize("suffix", ["0a", "-1", "_x"])
def test_longer_identifier_is_not_cut_down_to_a_key(suffix: str) -> None:
    original = campaign_mail(forms=(OPT_OUT,), body_key=KEY + suffix, cte="8bit")
    assert _find(wrap_rfc822(original)) == CampaignRef(None, MESSAGE_ID)


def test_x_camptrackid_that_is_not_a_key_is_ignored() -> None:
    original = campaign_mail(forms=()).replace("MIME-Version", "X-CampTrackID: {tracker_key}\nMIME-Version", 1)
    assert _find(wrap_rfc822(original)) == CampaignRef(None, MESSAGE_ID)


def test_html_entity_forms_of_the_ampersand() -> None:
    for amp in ("&#38;", "&#x26;"):
        original = campaign_mail(forms=(OPT_OUT,), cte="8bit").replace("&amp;identifier", f"{amp}identifier")
        assert _find(wrap_rfc822(original)).tracker_key == KEY, amp


def test_deployment_patterns_find_other_senders_keys() -> None:
    other_sender = campaign_mail(forms=(), extra_headers="X-Newsletter-Ref: nl-2026-000417")
    report = wrap_exim(other_sender)
    assert _find(report).tracker_key is None
    options = AnalysisOptions(tracker_patterns=(re.compile(r"X-Newsletter-Ref: (?P<key>nl-\d{4}-\d+)"),))
    assert _find(report, options).tracker_key == "nl-2026-000417"
    in_body = campaign_mail(forms=(), html=False, cte="8bit") + "\nhttps://news.example.org/u/K-55123\n"
    body_options = AnalysisOptions(tracker_patterns=(re.compile(r"/u/(?P<key>K-\d+)"),))
    assert _find(wrap_rfc822(in_body), body_options).tracker_key == "K-55123"


def test_deployment_patterns_never_read_the_report_text() -> None:
    options = AnalysisOptions(tracker_patterns=(re.compile(r"Ref (?P<key>R-\d+)"),))
    report = wrap_rfc822(campaign_mail(forms=())).replace("User unknown\n", "User unknown (Ref R-998877)\n")
    assert "R-998877" in report
    assert _find(report, options).tracker_key is None


# --- never from the report's own text -------------------------------------------------------------


def test_key_in_the_report_text_but_not_in_the_original() -> None:
    own_text = (
        _NOTICE
        + f"\nRejected by policy: {_link('removeme', OTHER_KEY, html=False)}\n"
        + f"X-CampTrackID: {OTHER_KEY}\nTracking id {OTHER_KEY}\n"
    )
    non_campaign = campaign_mail(forms=(), html=False, cte="8bit")
    headers_only = _report("Content-Type: text/rfc822-headers\n\n" + _headers_of(non_campaign), notice=own_text)
    assert _find(headers_only) == CampaignRef(None, MESSAGE_ID)
    with_key = _report("Content-Type: message/rfc822\n\n" + campaign_mail(forms=(HEADER,)), notice=own_text)
    assert _find(with_key).tracker_key == KEY


def test_report_without_any_original() -> None:
    report = _plain_report(f"{_NOTICE}\nUnsubscribe link that failed: {_link('removeme', KEY, html=False)}\n")
    assert _find(report) == CampaignRef(None, None)


def test_quoted_reply_and_inline_forward_are_not_returned_originals() -> None:
    text = campaign_mail(forms=ALL_FORMS, html=False, cte="8bit").split("\n\n", 1)[1]
    quoted = "\n".join("> " + line for line in text.splitlines())
    reply = f"From: {RECIPIENT}\nTo: news@example-ngo.org\nSubject: Re: hola\n\nGràcies!\n\n{quoted}\n"
    assert _find(reply) == CampaignRef(None, None)
    forward = (
        f"From: {RECIPIENT}\nTo: amic@example.com\nSubject: Fwd: hola\n\n"
        "---------- Forwarded message ---------\nFrom: Associacio <news@example-ngo.org>\n"
        f"Date: Tue, 24 Nov 2026\nSubject: hola\nTo: {RECIPIENT}\n\n{text}"
    )
    assert _find(forward) == CampaignRef(None, None)


# --- the real bounces of the corpus -------------------------------------------------------------

CORPUS = FIXTURES.parent.parent / "corpus" / "sisimai"


def test_no_key_is_ever_invented_on_real_bounces() -> None:
    # No message of the corpus answers a CRM campaign: every key found there would be made up,
    # whatever UUID-shaped ids (Exchange, SES, Google) the reports and their originals carry.
    paths = sorted((CORPUS / "emails").glob("*.eml")) + sorted((CORPUS / "not-bounce").glob("*.eml"))
    assert len(paths) > 400
    with_original = 0
    for path in paths:
        raw = path.read_bytes()
        ref = _find(raw)
        assert ref.tracker_key is None, path.name
        assert analyse(raw).tracker_key is None, path.name
        with_original += ref.original_message_id is not None
    # Most returned originals carry a Message-ID; the lookup finds them in every wrapper.
    assert with_original > 350  # 370 of 427 today


# --- the committed, hand-written samples ----------------------------------------------------------

K1 = "5f0c9a3e-2b71-d84e-9a06-c1e7f2b3d4a5"
K2 = "0b8e4d21-7c3f-4a95-8e12-6f0d9c3b2a71"
K3 = "c4a1e9f0-3d2b-11ee-b5a8-7e0f6d5c4b3a"
ID1 = "<Kx2Zq8WcT0aBfE41mQp7@crm.fundacio-exemple.org>"
ID2 = "<9qLm3RtV7yZ0wXcB@crm.associacio-exemple.cat>"
ID3 = "<p0RtS9vW2xYz4AbCdE@crm.fundacio-exemple.org>"

# file -> (kind, key, original Message-ID)
SAMPLES: dict[str, tuple[Kind, str | None, str | None]] = {
    "bounce-postfix-rfc822.eml": (Kind.BOUNCE, K1, ID1),
    "bounce-gmail-headers.eml": (Kind.BOUNCE, K2, ID2),
    "bounce-qmail-inline.eml": (Kind.BOUNCE, K1, ID1),
    "bounce-exim-headers-inline.eml": (Kind.BOUNCE, K2, ID2),
    "bounce-office365-headers-inline.eml": (Kind.BOUNCE, K3, ID3),
    "bounce-details-txt-attachment.eml": (Kind.BOUNCE, K1, ID1),
    "complaint-arf.eml": (Kind.COMPLAINT, K1, ID1),
    "bounce-keyshaped-own-text.eml": (Kind.BOUNCE, None, "<a81f-2026-118@office.fundacio-exemple.org>"),
    "reply-quoting-campaign.eml": (Kind.NOT_BOUNCE, None, None),
    "forward-inline.eml": (Kind.NOT_BOUNCE, None, None),
    "autoreply-ooo-quoting-campaign.eml": (Kind.AUTOREPLY, None, None),
    "postmaster-notice.eml": (Kind.NOT_BOUNCE, None, None),
}


def test_every_committed_sample_is_listed() -> None:
    names = {path.name for path in FIXTURES.glob("*.eml")}
    assert names == set(SAMPLES) | {"sinergiacrm-campaign.eml", "sinergiacrm-text-only.eml"}


def test_committed_campaign_mails_carry_their_keys() -> None:
    # The originals themselves, read as originals (not as reports).
    from bouncer.analysis.campaign import tracker_key_of

    assert tracker_key_of(_parse((FIXTURES / "sinergiacrm-campaign.eml").read_bytes())) == K1
    assert tracker_key_of(_parse((FIXTURES / "sinergiacrm-text-only.eml").read_bytes())) == K2


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_committed_sample_direct(name: str) -> None:
    _, key, original_id = SAMPLES[name]
    assert _find((FIXTURES / name).read_bytes()) == CampaignRef(key, original_id)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_committed_sample_through_analyse(name: str) -> None:
    kind, key, original_id = SAMPLES[name]
    result = analyse((FIXTURES / name).read_bytes())
    assert (result.kind, result.tracker_key) == (kind, key)
    if kind is not Kind.NOT_BOUNCE and key is not None:
        assert result.original_message_id == original_id


# --- through analyse(): the kind decides whether a key may be read at all ------------------------


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.name)
def test_bounces_through_analyse(wrapper: Wrapper) -> None:
    result = analyse(_crlf(wrapper.wrap(campaign_mail())))
    assert result.kind is Kind.BOUNCE
    assert result.tracker_key == KEY
    assert result.original_message_id == MESSAGE_ID


def test_forward_as_attachment_is_not_a_report() -> None:
    # A person forwarding the campaign mail as an attachment returns nothing: no key.
    forward = (
        f"From: Laia Vila <{RECIPIENT}>\nTo: amic@example.com\nSubject: Fwd: Butlleti de tardor\n"
        "Date: Tue, 24 Nov 2026 19:02:11 +0100\nMessage-ID: <fwd-1@example.net>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="fwd"\n\n--fwd\nContent-Type: text/plain\n\nMira!\n\n'
        "--fwd\nContent-Type: message/rfc822\n\n" + campaign_mail() + "\n--fwd--\n"
    )
    result = analyse(_crlf(forward))
    assert result.kind is Kind.NOT_BOUNCE
    assert result.tracker_key is None


def test_human_reply_with_tracker_link_through_analyse() -> None:
    text = campaign_mail(forms=ALL_FORMS, html=False, cte="8bit").split("\n\n", 1)[1]
    quoted = "\n".join("> " + line for line in text.splitlines())
    reply = (
        f"From: Laia Vila <{RECIPIENT}>\nTo: news@example-ngo.org\nSubject: Re: Butlleti\n"
        f"Date: Tue, 24 Nov 2026 18:40:03 +0100\nMessage-ID: <re-1@example.net>\nIn-Reply-To: {MESSAGE_ID}\n"
        f"Content-Type: text/plain; charset=utf-8\n\nM'apunto al taller!\n\n{quoted}\n"
    )
    result = analyse(_crlf(reply))
    assert result.kind is Kind.NOT_BOUNCE
    assert result.tracker_key is None


@pytest.mark.parametrize(
    "block",
    [
        b"Received: from a\n by b\nMessage-ID: <m@x>\nSubject: s\n\nbody\n",
        b"Received: from a\r\n\tby b\r\nMessage-ID:<m@x>\r\n\r\nbody\r\n",
        b"Received: from a\r by b\rSubject: s\r\rbody\r",  # lone CRs end lines too
        b"Received: a\nnot a header\n continued after it\nFrom : x\n Subject: y\nX-Odd name: z\n\nbody",
        b"Received: a\x0bb\nSubject:\x0c s\n\x0b\nX: y\n\nbody",  # \v and \f end lines, unstripped
        b"Received: a\nSubject:   \n folded only\nX-Last: no blank line at the end",
        b"\nbody only",
        b"Received: a\n\xff\xfe: raw bytes\nSubject: \xe9t\xe9\n\n\xff",
    ],
)
def test_headers_only_copy_reads_lines_like_the_line_loop(block: bytes) -> None:
    # _headers_message reads the usual block with whole-list operations; the line loop it
    # falls back on is the reference for every block.
    from bouncer.analysis.original import _header_lines_by_hand, _headers_message

    text = block.decode("ascii", "surrogateescape")
    headers, position = _header_lines_by_hand(text)
    copy = _headers_message(block)
    assert copy._headers == headers  # type: ignore[attr-defined]
    assert copy._payload == text[position:]  # type: ignore[attr-defined]  # as stored, surrogates kept


def test_evidence_prefix_tree_lists_the_evidence_headers() -> None:
    # The search pattern is the evidence list written as a prefix tree: keep the two in step.
    from bouncer.analysis.original import _EVIDENCE, _EVIDENCE_AFTER_LF

    names = re.search(rb"\(\?:([^)]*)\)", _EVIDENCE.pattern).group(1).split(b"|")  # type: ignore[union-attr]
    assert len(names) == 12
    for name in names:
        assert _EVIDENCE_AFTER_LF.fullmatch(b"\n" + name + b" :")
        assert _EVIDENCE_AFTER_LF.fullmatch(b"\n" + name[:-1] + b":") is None
    lines = b"".join(b"\n" + name + b": x" for name in names)
    assert len(_EVIDENCE_AFTER_LF.findall(lines)) == len(_EVIDENCE.findall(lines)) == 12
