"""Plain-text reports of systems with no module of their own (``mta.generic``): the shapes
in which they name a failed recipient, the lines that are not recipients, and the reports
that gateways write from an ordinary mailbox rather than MAILER-DAEMON.

Every message is built here; each shape is one MTAs share, not one sample's quirk.
"""

from __future__ import annotations

import pytest

from bouncer.analysis import Kind, analyse


def _report(body: str, *, sender: str = "MAILER-DAEMON@mx.example.net", subject: str = "Undelivered Mail",
            headers: str = "") -> bytes:  # fmt: skip
    return (
        f"From: {sender}\nTo: news-bounces@ngo.example\nSubject: {subject}\n{headers}"
        f"Date: Mon, 2 Nov 2026 10:00:00 +0100\nMessage-ID: <r1@mx.example.net>\n\n{body}"
    ).encode()


def _addresses(raw: bytes) -> list[str]:
    return [r.address for r in analyse(raw).recipients]


@pytest.mark.parametrize(
    "line",
    [
        '"gone@example.org"',  # quoted, alone
        '"Gone Person" <gone@example.org>',  # a display name, then the address
        " gone@example.org ... unknown host",  # Sendmail's "..." without angle brackets
        "550 gone@example.org...User account is overquota",  # no space before "..."
        "Intended recipient: gone@example.org",
    ],
)
def test_shapes_that_name_a_recipient(line: str) -> None:
    body = f"The following message could not be delivered:\n\n{line}\n\nPlease check the address.\n"
    assert _addresses(_report(body)) == ["gone@example.org"]


def test_an_x400_address_gives_its_smtp_part() -> None:
    body = (
        "Your message\n  Subject: News\n did not reach the following recipient(s):\n"
        "c=US;a= ;p=ORG;o=Site;dda:SMTP=gone@example.org; on Mon, 2 Nov 2026 10:00:00 +0100\n"
        "    The recipient name is not recognized\n"
    )
    assert _addresses(_report(body)) == ["gone@example.org"]


def test_a_summary_of_the_original_names_no_recipient() -> None:
    """Header-like lines ("To: list@...") describe the original; with another address in
    the text, only that one failed."""
    body = (
        "Your message\n  To:      list@lists.example.org\n  Subject: News\n"
        "did not reach the following recipient(s):\n"
        "c=US;a= ;p=ORG;o=Site;dda:SMTP=gone@example.org; on Mon, 2 Nov 2026\n"
    )
    assert _addresses(_report(body)) == ["gone@example.org"]


@pytest.mark.parametrize(
    "marker",
    [
        "---- START OF RETURNED MESSAGE ----",
        "Original message details:",
        "Original message as received is as follows:",
    ],
)
def test_what_follows_an_original_marker_is_not_a_recipient(marker: str) -> None:
    body = (
        "This message was created automatically by mail delivery software.\n\n"
        "The following address failed:\n\n  gone@example.org\n    mailbox unavailable\n\n"
        f"{marker}\nFrom: news@ngo.example\nTo: list@lists.example.org\nReply-To: office@ngo.example\n"
    )
    assert _addresses(_report(body)) == ["gone@example.org"]


GATEWAY_BODY = (
    "Your message with Subject: News\ncould not be delivered to the following recipients:\n\n"
    "gone@example.org\n\nPlease do not resend your original message.\n"
)


def test_a_gateway_writing_from_an_ordinary_mailbox_is_read() -> None:
    """A subject and a text that both say bounce make a report, whoever sent it."""
    raw = _report(GATEWAY_BODY, sender="AntiVirus_Gateway@mx.example.net", subject="Delivery failure notification")
    assert analyse(raw).kind is Kind.BOUNCE
    assert _addresses(raw) == ["gone@example.org"]


@pytest.mark.parametrize(
    "client",
    [
        "User-Agent: Mozilla Thunderbird\n",
        "X-Mailer: Microsoft Outlook 16.0\n",
        'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b"\n',
    ],
)
def test_the_same_words_from_a_persons_mail_client_are_a_persons_mail(client: str) -> None:
    body = GATEWAY_BODY
    if "multipart" in client:
        body = f"--b\nContent-Type: text/plain\n\n{GATEWAY_BODY}\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n"
    raw = _report(body, sender="Ana Puig <ana@example.org>", subject="Delivery problem", headers=client)
    assert analyse(raw).kind is Kind.NOT_BOUNCE


def test_a_person_writing_about_a_parcel_is_a_persons_mail() -> None:
    raw = _report(
        "Hello,\n\nthe parcel with the calendars could not be delivered to our office.\n\nAna\n",
        sender="Ana Puig <ana@example.org>",
        subject="Delivery problem",
        headers='MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b"\n',
    )
    assert analyse(raw).kind is Kind.NOT_BOUNCE


def test_a_report_in_chinese_is_read() -> None:
    """Chinese providers (Sina, 163, QQ) write their reports in GB2312 or GBK, with no
    English sentence to go by."""
    body = "邮件无法发送到您指定的地址中。\n\n<gone@example.org>:\n\n--- 附件中的内容是原信件的一份拷贝\n"
    raw = (
        b"From: MAILER-DAEMON@mail.example.cn\nTo: news-bounces@ngo.example\nMIME-Version: 1.0\n"
        b'Content-Type: text/plain; charset="gb2312"\nContent-Transfer-Encoding: 8bit\n\n' + body.encode("gb2312")
    )
    assert analyse(raw).kind is Kind.BOUNCE
    assert _addresses(raw) == ["gone@example.org"]
