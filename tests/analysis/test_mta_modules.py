"""One small test per mail-system decoder: the evidence that selects it, and what it reads."""

from __future__ import annotations

import json

from bouncer.analysis import analyse
from bouncer.analysis.taxonomy import Kind, Reason


def text_bounce(body: str, **headers: str) -> bytes:
    head = {"From": "MAILER-DAEMON@mx.example.net", "To": "sender@example.com", "Subject": "failure notice"}
    head.update(headers)
    return ("".join(f"{k}: {v}\n" for k, v in head.items()) + "Content-Type: text/plain\n\n" + body).encode()


def test_qmail_reads_each_recipient_paragraph_and_its_own_words() -> None:
    raw = text_bounce(
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<gone@example.org>:\n192.0.2.1 does not like recipient.\n"
        "Remote host said: 550 5.1.1 <gone@example.org>... User Unknown\nGiving up on 192.0.2.1.\n\n"
        "<full@example.org>:\n192.0.2.1 does not like recipient.\n"
        "Remote host said: 552 5.2.2 <full@example.org>... Mailbox Full\nGiving up on 192.0.2.1.\n\n"
        "<nohost@example.invalid>:\nSorry, I couldn't find any host named example.invalid. (#5.1.2)\n\n"
        "--- Below this line is a copy of the message.\n\nFrom: sender@example.com\nTo: x@example.org\n\nhi\n"
    )
    result = analyse(raw)
    assert result.mail_system == "qmail"
    got = {r.address: (r.reason, r.hard) for r in result.recipients}
    assert got == {
        "gone@example.org": (Reason.USERUNKNOWN, True),
        "full@example.org": (Reason.MAILBOXFULL, False),
        "nohost@example.invalid": (Reason.HOSTUNKNOWN, True),
    }


def test_exim_reads_indented_recipients_and_router_errors() -> None:
    raw = text_bounce(
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  someone@example.invalid\n    Unrouteable address\n"
        "  other@example.org\n    host mx.example.org [192.0.2.2]\n"
        "    SMTP error from remote mail server after RCPT TO:<other@example.org>:\n"
        "    550 5.1.1 <other@example.org>: Recipient address rejected: User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        "From: sender@example.com\nTo: someone@example.invalid\n\nhi\n",
        Subject="Mail delivery failed: returning message to sender",
        **{"X-Failed-Recipients": "someone@example.invalid, other@example.org"},
    )
    result = analyse(raw)
    assert result.mail_system == "Exim"
    got = {r.address: (r.reason, r.status) for r in result.recipients}
    assert got == {
        "someone@example.invalid": (Reason.HOSTUNKNOWN, "5.0.912"),
        "other@example.org": (Reason.USERUNKNOWN, "5.1.1"),
    }


def test_gmail_text_report_uses_its_technical_details_and_knows_a_delay() -> None:
    raw = text_bounce(
        "Delivery to the following recipient has been delayed:\n\n     reader@example.org\n\n"
        "Message will be retried for 2 more day(s)\n\nTechnical details of temporary failure:\n"
        "The error that the other server returned was: 450 4.2.2 <reader@example.org>... Mailbox Full\n\n"
        "----- Original message -----\n\nFrom: sender@gmail.com\nTo: reader@example.org\n\nhi\n",
        From="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        Subject="Delivery Status Notification (Delay)",
    )
    result = analyse(raw)
    assert result.mail_system == "Gmail" and result.kind is Kind.DELAY
    (r,) = result.recipients
    assert (r.reason, r.status) == (Reason.MAILBOXFULL, "4.2.2")


def test_amazon_ses_json_notifications() -> None:
    bounce = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [
                {
                    "emailAddress": "gone@example.org",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        },
    }
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "reader@example.org"}],
            "complaintFeedbackType": "abuse",
        },
    }
    headers = {"From": "no-reply@sns.amazonaws.com", "Subject": "AWS Notification Message"}
    result = analyse(text_bounce(json.dumps(bounce) + "\n--\nunsubscribe footer\n", **headers))
    assert result.mail_system == "AmazonSES" and result.kind is Kind.BOUNCE
    assert [(r.address, r.reason, r.hard) for r in result.recipients] == [
        ("gone@example.org", Reason.USERUNKNOWN, True)
    ]
    result = analyse(text_bounce(json.dumps(complaint), **headers))
    assert result.kind is Kind.COMPLAINT and result.recipients[0].address == "reader@example.org"


def test_exchange_2003_ndr_sentence() -> None:
    raw = text_bounce(
        "Your message\n\n  To:      reader@example.org\n  Subject: News\n\n"
        "did not reach the following recipient(s):\n\n"
        "reader@example.org on Thu, 29 Apr 2010 00:00:00 -0000\n"
        "    The recipient name is not recognized\n"
        "    MSEXCH:IMS:EXAMPLE:SITE:SERVER 0 (000C05A6) Unknown Recipient\n",
        From="System Administrator <postmaster@example.org>",
        Subject="Undeliverable: News",
    )
    result = analyse(raw)
    assert result.mail_system == "Exchange2003"
    (r,) = result.recipients
    assert (r.address, r.reason, r.hard) == ("reader@example.org", Reason.USERUNKNOWN, True)


def test_postfix_report_without_diagnostic_takes_its_text_paragraph() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\nTo: sender@example.com\n"
        b"Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="P"\n\n'
        b"--P\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.net.\n\n"
        b"<reader@example.org>: host mx.example.org[192.0.2.3] said: 550 5.7.1 Service unavailable;\n"
        b"    client [192.0.2.9] blocked using bl.example.net (in reply to RCPT TO command)\n\n"
        b"--P\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; reader@example.org\nAction: failed\nStatus: 5.7.1\n\n--P--\n"
    )
    (r,) = analyse(raw).recipients
    assert (r.reason, r.reply_code, r.hard) == (Reason.BLOCKED, "550", False)
    assert "blocked using" in r.diagnostic


def test_recipient_groups_without_blank_lines_between_them() -> None:
    raw = (
        b"From: Postmaster <postmaster@example.net>\nTo: sender@example.com\nSubject: Undeliverable\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="G"\n\n'
        b"--G\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n"
        b"Final-Recipient: rfc822; full@example.org\nAction: failed\nStatus: 5.2.2\n"
        b"Diagnostic-Code: smtp; 552 5.2.2 Mailbox Full\n"
        b"Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 User Unknown\n\n--G--\n"
    )
    got = {r.address: r.reason for r in analyse(raw).recipients}
    assert got == {"full@example.org": Reason.MAILBOXFULL, "gone@example.org": Reason.USERUNKNOWN}


def test_unknown_mail_system_falls_back_to_generic_text_layout() -> None:
    raw = text_bounce(
        "Unable to deliver message to the following address(es).\n\n"
        "<reader@example.org>:\nRemote host said: 550 5.1.1 <reader@example.org>... User Unknown [RCPT_TO]\n",
        Subject="Failure Notice",
    )
    result = analyse(raw)
    assert result.mail_system == "text"
    (r,) = result.recipients
    assert (r.address, r.reason, r.status, r.hard) == ("reader@example.org", Reason.USERUNKNOWN, "5.1.1", True)


def test_rfc3834_header_alone_selects_the_autoreply_decoder() -> None:
    raw = (
        b"From: reader@example.org\nTo: sender@example.com\nSubject: Re: News\n"
        b"X-Autoreply: yes\nContent-Type: text/plain\n\nThanks, I'll answer soon.\n"
    )
    result = analyse(raw)
    assert result.mail_system == "RFC3834" and result.kind is Kind.AUTOREPLY


def _wrapping(outer_from: str, subject: str) -> bytes:
    inner = (
        "From: MAILER-DAEMON@hop.example.net\nTo: sender@example.com\nSubject: Returned mail\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="I"\n\n'
        "--I\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; hop.example.net\n\n"
        "Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>... User unknown\n\n--I--\n"
    )
    return (
        f"From: {outer_from}\nTo: sender@example.com\nSubject: {subject}\n"
        'Content-Type: multipart/mixed; boundary="O"\n\n'
        "--O\nContent-Type: text/plain\n\nThe message below could not be delivered.\n\n"
        f"--O\nContent-Type: message/rfc822\n\n{inner}\n--O--\n"
    ).encode()


def test_a_mail_systems_report_wrapping_another_report() -> None:
    result = analyse(_wrapping("Mail Delivery Subsystem <MAILER-DAEMON@gw.example.net>", "Returned mail: User unknown"))
    assert result.mail_system == "wrapped/RFC3464"
    (r,) = result.recipients
    assert (r.address, r.reason, r.hard) == ("gone@example.org", Reason.USERUNKNOWN, True)


def test_a_person_forwarding_a_report_is_taken_for_the_report_and_marked_forwarded() -> None:
    result = analyse(_wrapping("Someone <someone@example.com>", "Fwd: Returned mail"))
    assert result.kind is Kind.BOUNCE and result.forwarded
    assert result.mail_system == "RFC3464 (forwarded)"
    assert [r.address for r in result.recipients] == ["gone@example.org"]


def test_a_person_attaching_a_report_without_calling_it_a_forward_is_not_a_bounce() -> None:
    result = analyse(_wrapping("Someone <someone@example.com>", "have a look at this"))
    assert result.kind is Kind.NOT_BOUNCE


def test_apple_mail_unsubscribe_request_is_an_opt_out_complaint() -> None:
    raw = (
        b"From: reader@icloud.com\nTo: opt-out-1@example.org\nSubject: unsubscribe\n"
        b"Auto-Submitted: auto-replied\nX-Apple-Unsubscribe: true\nContent-Type: text/plain\n\n"
        b"Apple Mail sent this email to unsubscribe from the message.\n"
    )
    result = analyse(raw)
    assert result.kind is Kind.COMPLAINT and result.feedback_type == "opt-out"
    assert [(r.address, r.reason) for r in result.recipients] == [("reader@icloud.com", Reason.FEEDBACK)]


def test_fml_list_manager_refusing_a_non_members_post() -> None:
    raw = (
        b"From: news-admin@lists.example.org\nTo: sender@example.com\n"
        b"Subject: You sender@example.com are not member (news ML)\n"
        b"X-MLServer: fml [fml 4.0.3 release]\nContent-Type: text/plain\n\n"
        b"You are not a member of this mailing list <news@lists.example.org>.\n"
    )
    result = analyse(raw)
    assert result.mail_system == "fml"
    (r,) = result.recipients
    assert (r.address, r.reason, r.hard) == ("news@lists.example.org", Reason.REJECTED, False)


def test_a_delay_without_any_code_gets_a_permanent_pseudo_status() -> None:
    # Sisimai's rule: the class of a derived status is 4 only when the failure's own codes
    # say it was a passing one; "still retrying" alone does not.
    raw = text_bounce(
        "    Hi!\n\n    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n\n"
        "    A message is delayed for more than 10 minutes for the following\n    list of recipients:\n\n"
        "reader@example.org: Network error on destination MXs\n\n"
        "    Please note that this is only a temporary failure report.\n",
        Subject="Delivery status notification: delayed",
    )
    (r,) = analyse(raw).recipients
    assert (r.action, r.reason, r.status) == ("delayed", Reason.NETWORKERROR, "5.0.944")


def test_a_4xx_reply_without_a_status_makes_the_pseudo_status_temporary() -> None:
    raw = text_bounce(
        "This message was created automatically by mail delivery system.\n\n"
        "THIS IS A WARNING MESSAGE ONLY.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n"
        "----- The following addresses had fatal errors -----\n"
        "[Status: Error, Address: <reader@example.org>, ResponseCode 421, , Host not reachable.]\n",
        Subject="Warning: could not send message",
    )
    (r,) = analyse(raw).recipients
    assert (r.reply_code, r.status) == ("421", "4.0.947")


def test_sendmail_transcript_reply_before_a_recipient_line_is_its_diagnostic() -> None:
    raw = text_bounce(
        "   ----- Transcript of session follows -----\n"
        "While talking to mx.example.org:\n>>> MAIL From:<sender@example.com>\n"
        "<<< 501 <sender@example.com>... no access from mail server [192.0.2.5]\n"
        "554 <reader@example.org>... Remote protocol error\n"
        "While talking to mx.example.edu:\n>>> RCPT To:<gone@example.edu>\n"
        "<<< 550 <gone@example.edu>... User unknown\n550 <gone@example.edu>... User unknown\n",
        Subject="Returned mail: Remote protocol error",
    )
    got = {r.address: r for r in analyse(raw).recipients}
    assert got["reader@example.org"].diagnostic.startswith("501 <sender@example.com>... no access from mail server")
    assert got["reader@example.org"].reason is Reason.BLOCKED
    assert got["gone@example.edu"].reason is Reason.USERUNKNOWN


def test_sendmail_greeting_refused_before_any_command_is_a_block() -> None:
    raw = (
        b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\nTo: sender@example.com\n"
        b"Subject: Returned mail: Service unavailable\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="S"\n\n'
        b"--S\nContent-Type: text/plain\n\n   ----- Transcript of session follows -----\n"
        b"... while talking to mx1.example.org.:\n<<< 554 IP=192.0.2.9 - A problem occurred.\n"
        b"554 5.0.0 Service unavailable\n\n"
        b"--S\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; alias@example.org\nAction: failed\nStatus: 5.5.0\n"
        b"Diagnostic-Code: SMTP; 554 IP=192.0.2.9 - A problem occurred.\n\n--S--\n"
    )
    (r,) = analyse(raw).recipients
    assert (r.reason, r.status, r.hard) == (Reason.BLOCKED, "5.5.0", False)


def test_a_report_naming_no_recipient_speaks_of_the_originals_one_to_address() -> None:
    raw = text_bounce(
        "Message could not be delivered to mobile.\nError: No valid recipients for this MM\n\n\n"
        "Original Message:\nFrom: sender@example.com\nTo: 5550100@vzwpix.com\nSubject: hi\n",
        Subject="Undeliverable Message",
    )
    (r,) = analyse(raw).recipients
    assert (r.address, r.reason, r.hard) == ("5550100@vzwpix.com", Reason.USERUNKNOWN, True)
    assert "No valid recipients" in r.diagnostic


def test_a_report_saying_nothing_about_its_recipient_is_undefined_not_onhold() -> None:
    raw = text_bounce(
        "This is an automatically generated Delivery Status Notification.\n\n"
        "Delivery to the following recipients failed permanently:\n\n   * reader@example.org\n",
        Subject="Delivery Status Notification (Failure)",
    )
    (r,) = analyse(raw).recipients
    assert (r.reason, r.status, r.hard) == (Reason.UNDEFINED, "5.0.900", False)


def test_a_text_format_recipient_takes_the_status_of_an_unaddressed_report_block() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.net>\nTo: sender@example.com\n"
        b"Subject: Mail delivery failed: returning message to sender\nX-Failed-Recipients: box@example.net\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="E"\n\n'
        b"--E\nContent-Type: text/plain\n\n"
        b"This message was created automatically by mail delivery software.\n\n"
        b"A message that you sent could not be delivered to one or more of its\n"
        b"recipients. This is a permanent error. The following address(es) failed:\n\n"
        b"  save to /var/mail/box\n    generated by box@example.net\n"
        b"    mailbox is full: retry timeout exceeded\n\n"
        b"--E\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Action: failed\nFinal-Recipient: rfc822;/var/mail/box\nStatus: 5.0.0\n\n--E--\n"
    )
    (r,) = analyse(raw).recipients
    assert (r.address, r.reason, r.status) == ("box@example.net", Reason.MAILBOXFULL, "5.0.0")


def test_a_recipients_own_unrecognised_words_are_onhold() -> None:
    raw = text_bounce(
        "Sorry, we were unable to deliver your message to the following address.\n\n"
        "<reader@example.org>:\nThe frobnicator declined this one.\n",
        Subject="Failure Notice",
    )
    (r,) = analyse(raw).recipients
    assert (r.reason, r.status) == (Reason.ONHOLD, "5.0.901")
