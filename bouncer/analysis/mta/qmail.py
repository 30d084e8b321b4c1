"""qmail (and netqmail, vpopmail, qmail-toaster): "Hi. This is the qmail-send program at ...".

Evidence: that greeting, or the "--- Below this line is a copy of the message." marker.
Each failed recipient opens a paragraph ``<user@host>:``. qmail's own sentences name the
stage that failed, so they decide the reason before any remote text does.
"""

from __future__ import annotations

import re

from bouncer.analysis.mta import generic
from bouncer.analysis.mta.base import CaseBlind, Decoded, Report
from bouncer.analysis.taxonomy import Reason

NAME = "qmail"
R = Reason

_SIGNATURE = re.compile(r"This is the qmail-send program|^--- Below this line is a copy of the message\.", re.M)

# qmail-remote / qmail-local messages (qmail-1.03 source), most specific first.
_OWN_WORDS: tuple[tuple[CaseBlind, Reason], ...] = (
    (CaseBlind(r"but sender was rejected"), R.REJECTED),
    (CaseBlind(r"but my name was rejected"), R.BLOCKED),
    (CaseBlind(r"Sorry, I couldn't find any host (?:named|by that name)"), R.HOSTUNKNOWN),
    (CaseBlind(r"Sorry, no mailbox here by that name"), R.USERUNKNOWN),
    (CaseBlind(r"does not like recipient"), R.USERUNKNOWN),
    (CaseBlind(r"Sorry, I wasn't able to establish an SMTP connection"), R.NETWORKERROR),
    (CaseBlind(r"Although I'm listed as a best-preference MX"), R.NETWORKERROR),
    (CaseBlind(r"Sorry, I couldn't find a mail exchanger or IP address"), R.HOSTUNKNOWN),
    (CaseBlind(r"Unable to contact LDAP server|LDAP attribute|Temporary error in LDAP"), R.SYSTEMERROR),
    (CaseBlind(r"The users mailfolder is over the allowed quota|mailbox is full|over quota"), R.MAILBOXFULL),
    (CaseBlind(r"Message is looping|This message is looping"), R.NETWORKERROR),
    (CaseBlind(r"Sorry, this message is larger than"), R.MESGTOOBIG),
)


def matches(report: Report) -> bool:
    head = report.text_lower[:20000]
    if "qmail-send program" not in head and "below this line is a copy of the message" not in head:
        return False  # a substring test first: the pattern is only run on likely texts
    return bool(_SIGNATURE.search(report.text[:20000]))


def decode(report: Report) -> Decoded | None:
    recipients = generic.scan(report, report.text_before_original)
    if not recipients:
        return None
    for item in recipients:
        lowered = item.diagnostic.lower()
        for pattern, reason in _OWN_WORDS:
            if pattern.search(item.diagnostic, lowered):
                # "does not like recipient" only says the stage: the remote text may be more specific
                if reason is R.USERUNKNOWN and pattern.pattern.startswith("does not"):
                    item.command = "RCPT"
                    break
                item.reason = reason
                break
    return Decoded(mail_system=NAME, recipients=recipients)
