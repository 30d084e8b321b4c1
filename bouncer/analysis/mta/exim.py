"""Exim (and Exim-based systems: cPanel hosts, GMX, 1&1, Mail.ru): "This message was created
automatically by mail delivery software."

Evidence: that sentence, an ``X-Failed-Recipients`` header or an Exim message id
(``E1xxxxx-xxxxxx-xx``) in Message-ID. Recipients are the indented lines after "The following
address(es) failed:"; the lines under each are its diagnostic. Exim's own sentences (router
and transport errors) say the reason outright.
"""

from __future__ import annotations

import re

from bouncer.analysis.mta import generic
from bouncer.analysis.mta.base import CaseBlind, Decoded, Report
from bouncer.analysis.taxonomy import Reason

NAME = "Exim"
R = Reason

_SIGNATURE = re.compile(
    r"This message was created automatically by mail delivery software|"
    r"Message .{1,80} has not been delivered to all of its recipients|"
    r"has been frozen|was frozen on arrival",
    re.I,
)
_DELAYED = CaseBlind(r"has not (?:yet )?been delivered|delayed|Warning: message .{1,80} delayed")

# Exim's own error texts (routers, transports, retry logic).
_OWN_WORDS: tuple[tuple[CaseBlind, Reason], ...] = (
    (CaseBlind(r"Unrouteable address|all relevant MX records point to non-existent hosts"), R.HOSTUNKNOWN),
    (CaseBlind(r"an MX or SRV record indicated no SMTP service"), R.NOTACCEPT),
    (CaseBlind(r"mailbox is full|Mailbox quota exceeded|quota exceeded"), R.MAILBOXFULL),
    (CaseBlind(r"Too many \"Received\" headers"), R.CONTENTERROR),
    (CaseBlind(r"Unknown user|unknown local-part|No such user"), R.USERUNKNOWN),
    (CaseBlind(r"message is too big|message size exceeds|Mail size limit exceeded"), R.MESGTOOBIG),
    (CaseBlind(r"\bunknown mail domain\b|domain .{1,80} not found"), R.HOSTUNKNOWN),
    # the retry limit, last: a more precise cause above wins over "it took too long"
    (CaseBlind(r"retry timeout exceeded|retry time not reached for any host"), R.EXPIRED),
)
_REMOTE_REPLY = re.compile(r"[45](?<![\d.][45])\d\d[ -]")
_GAVE_UP_RETRYING = CaseBlind(r"retry timeout exceeded|retry time not reached")


_SIGNATURE_WORDS = ("created automatically by mail delivery software", "has not been delivered to all", "frozen")


def matches(report: Report) -> bool:
    head = report.text_lower[:8000]
    for word in _SIGNATURE_WORDS:  # a plain loop: any() over a generator costs more than the tests
        if word in head:
            break
    else:
        return False  # a substring test first: the pattern is only run on likely texts
    return bool(_SIGNATURE.search(report.text[:8000]))


def decode(report: Report) -> Decoded | None:
    # The text names each failed address; X-Failed-Recipients stands in when the text names
    # only a bare local part.
    recipients = generic.scan(report, report.text_before_original) or generic.from_failed_recipients_header(report)
    if not recipients:
        return None
    delayed = bool(_DELAYED.search(report.subject)) and "failed" not in report.subject.lower()
    for item in recipients:
        if delayed:
            item.action = "delayed"
        lowered = item.diagnostic.lower()
        if _GAVE_UP_RETRYING.search(item.diagnostic, lowered):
            item.temporary = True  # the failures were passing ones until the retries ran out
        if _REMOTE_REPLY.search(item.diagnostic) is None:  # Exim's own words only without the server's
            for pattern, reason in _OWN_WORDS:
                if pattern.search(item.diagnostic, lowered):
                    item.reason = reason
                    break
    return Decoded(mail_system=NAME, recipients=recipients)
