"""Plain-text reports of older or appliance mail systems, one table of their own sentences
each: Microsoft Exchange 2003 (and earlier), Ipswitch IMail, Lotus Notes/Domino, Trend Micro
InterScan MSS, m-FILTER, OpenSMTPD, Zoho, DragonFly Mail Agent.

Evidence: each system's fixed greeting or heading (``SIGNATURES``). Recipients are found as
the generic text decoder finds them; the system's own sentence, when present, states the
reason.
"""

from __future__ import annotations

import re

from bouncer.analysis.mta import generic
from bouncer.analysis.mta.base import CaseBlind, Decoded, Report
from bouncer.analysis.taxonomy import Reason

NAME = "legacy"
R = Reason

# (mail system, signature in the report's text)
SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Exchange2003", re.compile(r"did not reach the following recipient|MSEXCH:", re.I)),
    (
        "IMailServer",
        re.compile(
            r"^(?:Unknown user|User mailbox exceeds allowed size|Invalid final delivery userid|"
            r"Mail Delivery Failed|Body of message generated response):",
            re.M,
        ),
    ),
    (
        "Notes",
        re.compile(r"^-+ Failure Reasons -+|not listed in (?:Domino Directory|public Name & Address Book)", re.M),
    ),
    ("InterScanMSS", re.compile(r"Message from InterScan Messaging Security Suite", re.I)),
    ("mFILTER", re.compile(r"^-------server message|m-FILTER", re.M)),
    ("OpenSMTPD", re.compile(r"This is the MAILER-DAEMON, please DO NOT REPLY to this e-?mail", re.I)),
    ("DragonFly", re.compile(r"This is the DragonFly Mail Agent", re.I)),
    ("Zoho", re.compile(r"This message was created automatically by mail delivery system\.", re.I)),
)

# Each system's own sentences (from their documentation and NDR templates).
OWN_WORDS: tuple[tuple[CaseBlind, Reason], ...] = (
    # Exchange 2003 NDR: the diagnostic sentence and the MSEXCH code 000C05A6 / 000D0B6A
    (CaseBlind(r"The recipient name is not recognized|Unknown Recipient|000C05A6"), R.USERUNKNOWN),
    (
        CaseBlind(r"The message (?:was|could not be) delivered because the recipient.{0,40}mailbox is full"),
        R.MAILBOXFULL,
    ),
    (CaseBlind(r"Invalid final delivery userid|^Unknown user:", re.M), R.USERUNKNOWN),
    (CaseBlind(r"User mailbox exceeds allowed size"), R.MAILBOXFULL),
    (CaseBlind(r"not listed in (?:Domino Directory|public Name & Address Book)"), R.USERUNKNOWN),
    (
        CaseBlind(r"Unable to deliver message to <[^>]+>(?: \(and other recipients in the same domain\))?\."),
        R.USERUNKNOWN,
    ),
    (CaseBlind(r"Envelope expired|Delivery time expired"), R.EXPIRED),
    (CaseBlind(r"Domain does not exist|DNS lookup failure: host .{1,100} not found"), R.HOSTUNKNOWN),
    (CaseBlind(r"Could not deliver for the last \d+ seconds"), R.EXPIRED),
    (CaseBlind(r"THIS IS A WARNING MESSAGE ONLY"), R.EXPIRED),
)
# Zoho writes the remote server's reply as "[Status: Error, Address: <a@b>, ResponseCode 421, ...]"
_RESPONSE_CODE = re.compile(r"\bResponseCode ([245]\d\d)\b")
_DELAY = CaseBlind(r"THIS IS A WARNING MESSAGE ONLY|is delayed for more than|temporary failure report")


# A word each signature holds, tested first: a plain substring test is cheap.
_KEYWORDS = {
    "Exchange2003": ("did not reach", "msexch:"),
    "IMailServer": ("unknown user:", "user mailbox exceeds", "invalid final delivery", "mail delivery failed:",
                    "body of message generated"),
    "Notes": ("failure reasons", "not listed in"),
    "InterScanMSS": ("interscan",),
    "mFILTER": ("server message", "m-filter"),
    "OpenSMTPD": ("please do not reply",),
    "DragonFly": ("dragonfly",),
    "Zoho": ("mail delivery system.",),
}  # fmt: skip


# (mail system, its keywords, its signature): SIGNATURES with _KEYWORDS, for one loop
_SIGNS = tuple((name, _KEYWORDS[name], signature) for name, signature in SIGNATURES)


def _system(report: Report) -> str:
    """The system whose signature the text holds, '' for none; asked once per report
    (by ``matches`` and again by ``decode``)."""
    system = report.memo.get(NAME)
    if system is None:
        system = report.memo[NAME] = _find_system(report)
    return system


def _find_system(report: Report) -> str:
    head = report.text[:6000]
    # lower-casing ASCII text keeps its length: the lowered text's head is the head lowered
    lowered = report.text_lower[:6000] if head.isascii() else head.lower()
    for name, keywords, signature in _SIGNS:
        for word in keywords:  # plain loops: any() over a generator costs more than the tests
            if word in lowered:
                if signature.search(head):
                    return name
                break
    return ""


def matches(report: Report) -> bool:
    return bool(_system(report))


def decode(report: Report) -> Decoded | None:
    system = _system(report)
    recipients = generic.scan(report, report.text_before_original) or generic.from_original_to(report)
    if not recipients:
        return None
    delayed = bool(_DELAY.search(report.text_before_original[:4000]))
    for item in recipients:
        if delayed:
            item.action = "delayed"
        code = _RESPONSE_CODE.search(item.diagnostic) if "ResponseCode" in item.diagnostic else None
        if code and not item.reply_code:
            item.reply_code = code.group(1)
        # remote servers' own words (an SMTP reply in the text) are more precise than ours
        if re.search(r"\b[45]\d\d[ -]", item.diagnostic):
            continue
        lowered = item.diagnostic.lower()
        for pattern, reason in OWN_WORDS:
            if pattern.search(item.diagnostic, lowered):
                item.reason = reason
                break
    return Decoded(mail_system=system, recipients=recipients)
