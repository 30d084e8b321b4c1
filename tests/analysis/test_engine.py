"""What a message is: bounce, delay, complaint, auto-reply, delivered or not a bounce at all.

Each message here is built for the test; the detection must come from structure and
evidence, never from who sent it.
"""

from __future__ import annotations

from bouncer.analysis import PARSER_VERSION, AnalysisOptions, analyse, engine_build
from bouncer.analysis.taxonomy import Kind, Reason

CAMPAIGN_KEY = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


def dsn(action: str, status: str, diagnostic: str, recipient: str = "someone@example.org", **headers: str) -> bytes:
    """An RFC 3464 report with one recipient."""
    head = {"From": "Mail Delivery System <MAILER-DAEMON@mx.example.net>", "Subject": "Delivery report"}
    head.update(headers)
    top = "".join(f"{k}: {v}\n" for k, v in head.items())
    return (
        f"{top}To: sender@example.com\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Remote-MTA: dns; mx.example.org\nDiagnostic-Code: smtp; {diagnostic}\n\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        f"From: sender@example.com\nTo: {recipient}\nSubject: News\nX-CampTrackID: {CAMPAIGN_KEY}\n\n"
        "--B--\n"
    ).encode()


def test_permanent_failure_of_a_bad_address_is_a_hard_bounce() -> None:
    result = analyse(
        dsn("failed", "5.1.1", "550 5.1.1 <someone@example.org>: Recipient address rejected: User unknown")
    )
    assert result.kind is Kind.BOUNCE
    (r,) = result.recipients
    assert (r.address, r.status, r.reply_code, r.reason, r.hard) == (
        "someone@example.org",
        "5.1.1",
        "550",
        Reason.USERUNKNOWN,
        True,
    )
    assert r.remote_mta == "mx.example.org"
    assert r.crm_activity == "invalid email"


def test_office365_report_is_read_by_structure_not_sender() -> None:
    # Office 365 signs its reports with a per-tenant mailbox, no MAILER-DAEMON in sight
    raw = dsn(
        "failed",
        "5.1.10",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        From="Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@tenant.onmicrosoft.com>",
        Subject="Undeliverable: News",
    )
    (r,) = analyse(raw).recipients
    assert r.reason is Reason.USERUNKNOWN and r.hard


def test_a_block_against_the_sender_never_condemns_the_address() -> None:
    raw = dsn(
        "failed", "5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"
    )
    (r,) = analyse(raw).recipients
    assert r.reason is Reason.BLOCKED
    assert not r.hard and r.crm_activity == "send error"


def test_delayed_report_is_a_delay() -> None:
    raw = dsn("delayed", "4.4.7", "421 4.4.7 Connection timed out", Subject="Delayed Mail (still being retried)")
    result = analyse(raw)
    assert result.kind is Kind.DELAY
    (r,) = result.recipients
    assert r.action == "delayed" and r.reason is Reason.EXPIRED and not r.hard


def test_success_report_is_delivered() -> None:
    result = analyse(dsn("delivered", "2.0.0", "250 2.0.0 OK queued"))
    assert result.kind is Kind.DELIVERED
    assert result.recipients[0].reason is Reason.DELIVERED


def test_arf_feedback_report_is_a_complaint() -> None:
    raw = (
        "From: staff@feedback.example.net\nTo: abuse@example.com\nSubject: FW: News\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n'
        "--F\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n"
        "--F\nContent-Type: message/feedback-report\n\n"
        "Feedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n"
        "Original-Mail-From: <sender@example.com>\nOriginal-Rcpt-To: <reader@example.org>\n\n"
        "--F\nContent-Type: message/rfc822\n\nFrom: sender@example.com\nTo: reader@example.org\n"
        f"Subject: News\nX-CampTrackID: {CAMPAIGN_KEY}\n\nHello\n\n--F--\n"
    ).encode()
    result = analyse(raw)
    assert result.kind is Kind.COMPLAINT
    assert result.feedback_type == "abuse"
    (r,) = result.recipients
    assert r.address == "reader@example.org" and r.reason is Reason.FEEDBACK and not r.hard


def test_out_of_office_is_an_autoreply() -> None:
    raw = (
        b"From: Reader <reader@example.org>\nTo: sender@example.com\nSubject: Out of Office: News\n"
        b"Auto-Submitted: auto-replied\nContent-Type: text/plain\n\n"
        b"I am out of the office until Monday and will read your message then.\n"
    )
    result = analyse(raw)
    assert result.kind is Kind.AUTOREPLY
    (r,) = result.recipients
    assert r.address == "reader@example.org" and r.reason is Reason.VACATION and not r.hard


def test_human_reply_quoting_the_campaign_mail_is_not_a_bounce() -> None:
    raw = (
        "From: Reader <reader@example.org>\nTo: news@example.com\nSubject: Re: News\n"
        "In-Reply-To: <abc@example.com>\nContent-Type: text/plain\n\n"
        "Thanks, I could not be delivered the parcel you mention, can you help?\n\n"
        "> Dear reader,\n> Read more at https://crm.example.com/index.php?entryPoint=campaign_trackerv2"
        f"&track=1&identifier={CAMPAIGN_KEY}\n> Unsubscribe: https://crm.example.com/index.php?"
        f"entryPoint=removeme&identifier={CAMPAIGN_KEY}\n"
    ).encode()
    result = analyse(raw)
    assert result.kind is Kind.NOT_BOUNCE
    assert result.recipients == ()


def test_postmaster_message_that_is_not_a_bounce() -> None:
    raw = (
        b"From: postmaster@example.org\nTo: news@example.com\nSubject: Planned maintenance on Sunday\n"
        b"Content-Type: text/plain\n\nOur mail servers will be down for maintenance on Sunday 02:00-04:00 UTC.\n"
        b"Write to postmaster@example.org with any question.\n"
    )
    result = analyse(raw)
    assert result.kind is Kind.NOT_BOUNCE
    assert result.recipients == ()


def test_never_raises_and_says_why() -> None:
    for raw in (b"", b"\x00\xff" * 100, b"Content-Type: multipart/report; boundary=\n\n--\n--\n", "not bytes"):
        result = analyse(raw)  # type: ignore[arg-type]
        assert result.kind is Kind.NOT_BOUNCE
    assert analyse(b"").error == "the message is empty"
    assert analyse("text").error == "the input is not bytes"  # type: ignore[arg-type]


def test_deeply_nested_message_is_bounded() -> None:
    inner = b"Subject: x\n\nbody\n"
    for _ in range(60):
        inner = b"Content-Type: message/rfc822\n\n" + inner
    assert analyse(inner).kind is Kind.NOT_BOUNCE


def test_options_and_version_are_part_of_the_contract() -> None:
    assert PARSER_VERSION
    result = analyse(dsn("failed", "5.2.2", "552 5.2.2 Mailbox full"), AnalysisOptions())
    contract = result.to_contract("x.eml")
    assert contract["kind"] == "bounce"
    assert contract["recipients"][0]["reason"] == "mailboxfull"
    assert contract["recipients"][0]["hard"] is False


def test_spanish_out_of_office_is_an_autoreply() -> None:
    raw = (
        "From: Lectora <lectora@example.es>\nTo: boletin@example.com\n"
        "Subject: Fuera de la oficina: Boletín de noviembre\nContent-Type: text/plain; charset=utf-8\n\n"
        "Estaré fuera de la oficina hasta el lunes.\n"
    ).encode()
    result = analyse(raw)
    assert result.kind is Kind.AUTOREPLY
    assert result.recipients[0].address == "lectora@example.es"


def test_the_tests_run_the_plain_sources() -> None:
    """An editable install is never compiled (setup.py): edits must take effect, and the
    compiled build is held to the plain one by scripts/check_compiled.py."""
    assert engine_build() == "plain Python"
