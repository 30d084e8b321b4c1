"""RFC 3463 enhanced status codes: what each says about the failure, and how to find one in text.

The reason names follow Sisimai's taxonomy. Codes absent from the table (x.0.0, 5.7.1, ...)
say too little on their own: the diagnostic text decides.
"""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason

# Enhanced status code -> reason, when the code alone is specific enough (RFC 3463, 3886,
# 4954, 5248, 6710, 7293, 7372, 7505). Generic codes such as 5.0.0, 5.7.1 are left out.
STATUS_REASON: dict[str, Reason] = {
    "2.1.5": R.DELIVERED,
    "4.1.6": R.HASMOVED,
    "4.1.7": R.REJECTED,
    "4.1.8": R.REJECTED,
    "4.1.9": R.SYSTEMERROR,
    "4.2.1": R.SUSPEND,
    "4.2.2": R.MAILBOXFULL,
    "4.2.3": R.EXCEEDLIMIT,
    "4.2.4": R.FILTERED,
    "4.3.1": R.SYSTEMFULL,
    "4.3.2": R.NOTACCEPT,
    "4.3.3": R.SYSTEMERROR,
    "4.3.5": R.SYSTEMERROR,
    "4.4.1": R.EXPIRED,
    "4.4.2": R.NETWORKERROR,
    "4.4.3": R.SYSTEMERROR,
    "4.4.4": R.NETWORKERROR,
    "4.4.5": R.SYSTEMFULL,
    "4.4.6": R.NETWORKERROR,
    "4.4.7": R.EXPIRED,
    "4.4.8": R.NETWORKERROR,
    "4.5.3": R.SYSTEMERROR,
    "4.5.5": R.SYSTEMERROR,
    "4.6.0": R.CONTENTERROR,
    "4.6.2": R.CONTENTERROR,
    "4.6.5": R.CONTENTERROR,
    "4.7.1": R.BLOCKED,
    "4.7.2": R.BLOCKED,
    "4.7.5": R.SECURITYERROR,
    "4.7.6": R.SECURITYERROR,
    "4.7.7": R.SECURITYERROR,
    "4.7.12": R.SECURITYERROR,
    "4.7.15": R.SECURITYERROR,
    "4.7.16": R.MESGTOOBIG,
    "4.7.24": R.AUTHFAILURE,
    "4.7.25": R.REQUIREPTR,
    "4.7.26": R.AUTHFAILURE,
    "5.1.0": R.USERUNKNOWN,
    "5.1.1": R.USERUNKNOWN,
    "5.1.2": R.HOSTUNKNOWN,
    "5.1.3": R.USERUNKNOWN,
    "5.1.4": R.FILTERED,
    "5.1.6": R.HASMOVED,
    "5.1.7": R.REJECTED,
    "5.1.8": R.REJECTED,
    "5.1.9": R.SYSTEMERROR,
    "5.1.10": R.NOTACCEPT,
    "5.2.0": R.FILTERED,
    "5.2.1": R.FILTERED,
    "5.2.2": R.MAILBOXFULL,
    "5.2.3": R.EXCEEDLIMIT,
    "5.2.4": R.FILTERED,
    "5.3.0": R.SYSTEMERROR,
    "5.3.1": R.SYSTEMFULL,
    "5.3.2": R.NOTACCEPT,
    "5.3.3": R.SYSTEMERROR,
    "5.3.4": R.MESGTOOBIG,
    "5.3.5": R.SYSTEMERROR,
    "5.4.0": R.NETWORKERROR,
    "5.4.3": R.SYSTEMERROR,
    "5.4.4": R.HOSTUNKNOWN,
    "5.5.2": R.SYNTAXERROR,
    "5.5.3": R.TOOMANYCONN,
    "5.5.4": R.SYSTEMERROR,
    "5.5.5": R.SYSTEMERROR,
    "5.5.6": R.SYNTAXERROR,
    "5.6.0": R.CONTENTERROR,
    "5.6.1": R.CONTENTERROR,
    "5.6.2": R.CONTENTERROR,
    "5.6.3": R.CONTENTERROR,
    "5.6.5": R.CONTENTERROR,
    "5.6.6": R.CONTENTERROR,
    "5.6.7": R.CONTENTERROR,
    "5.6.8": R.CONTENTERROR,
    "5.6.9": R.CONTENTERROR,
    "5.7.0": R.SECURITYERROR,
    "5.7.1": R.SECURITYERROR,
    "5.7.2": R.SECURITYERROR,
    "5.7.3": R.SECURITYERROR,
    "5.7.4": R.SECURITYERROR,
    "5.7.5": R.SECURITYERROR,
    "5.7.6": R.SECURITYERROR,
    "5.7.7": R.SECURITYERROR,
    "5.7.8": R.SECURITYERROR,
    "5.7.9": R.SECURITYERROR,
    "5.7.10": R.SECURITYERROR,
    "5.7.11": R.SECURITYERROR,
    "5.7.13": R.SUSPEND,
    "5.7.14": R.SECURITYERROR,
    "5.7.15": R.SECURITYERROR,
    "5.7.16": R.MESGTOOBIG,
    "5.7.17": R.HASMOVED,
    "5.7.18": R.HASMOVED,
    "5.7.19": R.SECURITYERROR,
    "5.7.20": R.AUTHFAILURE,
    "5.7.21": R.AUTHFAILURE,
    "5.7.22": R.AUTHFAILURE,
    "5.7.23": R.AUTHFAILURE,
    "5.7.24": R.AUTHFAILURE,
    "5.7.25": R.REQUIREPTR,
    "5.7.26": R.AUTHFAILURE,
    "5.7.27": R.NOTACCEPT,
}

# When a report carries no status at all, a status is derived from the reason decided, so
# that every failed recipient has one: x.0.9nn, the convention Sisimai uses
# (Sisimai::SMTP::Status->code). The class is 5 unless the failure is known to be a passing
# one (see ``pseudo_status``).
_PSEUDO_PERMANENT: dict[Reason, str] = {
    R.AUTHFAILURE: "5.0.972",
    R.BADREPUTATION: "5.0.975",
    R.BLOCKED: "5.0.971",
    R.CONTENTERROR: "5.0.960",
    R.EXCEEDLIMIT: "5.0.923",
    R.EXPIRED: "5.0.947",
    R.FAILEDSTARTTLS: "5.0.976",
    R.FILTERED: "5.0.910",
    R.HASMOVED: "5.0.916",
    R.HOSTUNKNOWN: "5.0.912",
    R.MAILBOXFULL: "5.0.922",
    R.MAILERERROR: "5.0.939",
    R.MESGTOOBIG: "5.0.934",
    R.NETWORKERROR: "5.0.944",
    R.NORELAYING: "5.0.909",
    R.NOTACCEPT: "5.0.932",
    R.NOTCOMPLIANTRFC: "5.0.978",
    R.ONHOLD: "5.0.901",
    R.POLICYVIOLATION: "5.0.972",
    R.REJECTED: "5.0.918",
    R.REQUIREPTR: "5.0.973",
    R.SECURITYERROR: "5.0.970",
    R.SPAMDETECTED: "5.0.980",
    R.SPEEDING: "5.0.946",
    R.SUSPEND: "5.0.921",
    R.SYNTAXERROR: "5.0.902",
    R.SYSTEMERROR: "5.0.930",
    R.SYSTEMFULL: "5.0.931",
    R.TOOMANYCONN: "5.0.945",
    R.UNDEFINED: "5.0.900",
    R.USERUNKNOWN: "5.0.911",
    R.VIRUSDETECTED: "5.0.971",
}
# A passing failure keeps the 5.0.9nn detail with a 4 class, except a filter's, which has its
# own temporary number; reasons that cannot be passing (userunknown, hostunknown, suspend,
# hasmoved, mesgtoobig, ...) keep their permanent code even then.
_PSEUDO_TEMPORARY: dict[Reason, str] = {
    **{
        reason: "4" + _PSEUDO_PERMANENT[reason][1:]
        for reason in (
            R.AUTHFAILURE, R.BADREPUTATION, R.BLOCKED, R.CONTENTERROR, R.EXPIRED, R.MAILBOXFULL,
            R.NETWORKERROR, R.NOTACCEPT, R.ONHOLD, R.REJECTED, R.SECURITYERROR, R.SPAMDETECTED,
            R.SPEEDING, R.SYSTEMERROR, R.SYSTEMFULL, R.TOOMANYCONN, R.UNDEFINED,
        )
    },
    R.FILTERED: "4.0.924",
}  # fmt: skip


def pseudo_status(reason: Reason, temporary: bool) -> str:
    """The x.0.9nn status for a recipient whose report gave none.

    ``temporary`` must come from the failure's own codes or the decoder's explicit word (a
    4xx reply, a 4.x.x code in the diagnostic, Gmail's "temporary failure" heading, Exim's
    retries running out on a passing error); a report that merely says it is still
    retrying (``Action: delayed``) does not make the failure itself a passing one.
    """
    if temporary and reason in _PSEUDO_TEMPORARY:
        return _PSEUDO_TEMPORARY[reason]
    return _PSEUDO_PERMANENT.get(reason, "")


def reason_of_status(status: str) -> Reason | None:
    return STATUS_REASON.get(status)


# An enhanced status code in free text: "5.1.1", "#5.1.1", "(5.7.1)". Not part of an IP
# address or a version number: no digit or dot right before or after.
# The match opens at the first dot, the class digit is read behind it ("a 2, 4 or 5, with no
# digit or dot before it"): a pattern that opens with a literal character lets the engine
# skip ahead to the few dots of a text; one that opens with a character set is tried at
# every 2, 4 and 5 (2x slower), one that opens with a look-behind at every position.
_STATUS_IN_TEXT = re.compile(r"\.(?<=(?<![\d.])([245])\.)(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
# The whole match is the three-digit code.
_REPLY_IN_TEXT = re.compile(r"[245](?<![\d.\-][245])[0-5]\d(?=[ \-]|$)(?![\-.]\d{3})", re.M)


# "Dovecot version 2.3.4" is no status code
_VERSION_WORDS = ("version ", "release ", " v", "ver. ", "ver ")


# A Status: field is most often a bare code ("5.1.1"): what find_status makes of each bare
# code without leading zeros, looked up instead of searched (a search costs 20x more).
# Subjects above 7 are no status (find_status skips them); details up to 99 cover real codes.
_PLAIN_STATUS: dict[str, str] = {
    f"{cls}.{subject}.{detail}": (f"{cls}.{subject}.{detail}" if subject <= 7 else "")
    for cls in "245"
    for subject in range(10)
    for detail in range(100)
}
_PLAIN_STATUS[""] = ""


def find_status(text: str) -> str:
    """The enhanced status code a diagnostic text states, '' when none.

    When a text quotes several (an MTA's own code, then the remote server's words), the
    last specific one is the remote verdict: "554 4.4.7 Message expired ... <421 4.4.2
    Connection timed out>" failed on 4.4.2.
    """
    plain = _PLAIN_STATUS.get(text.strip())
    if plain is not None and len(text) <= 8000:  # the search reads 8000 characters
        return plain
    return _search_status(text)


def _search_status(text: str) -> str:
    """``find_status`` by searching the text for every code in it."""
    first = ""
    last_specific = ""
    for m in _STATUS_IN_TEXT.finditer(text, 0, 8000):
        cls, subject, detail = m.groups()
        start = m.start() - 1  # the class digit's
        if int(subject) > 7 or text[max(0, start - 9) : start].lower().endswith(_VERSION_WORDS):
            continue
        if len(subject) + len(detail) > 2 and (subject[0] == "0" or detail[0] == "0"):
            code = f"{cls}.{int(subject)}.{int(detail)}"  # no leading zeros: "5.01.1" is 5.1.1
        else:
            code = cls + m.group()  # the dot onwards
        first = first or code
        if not (code.endswith(".0.0") or code.startswith(("5.0.9", "4.0.9"))):  # not is_generic(code)
            last_specific = code
    return last_specific or first


def find_reply_code(text: str) -> str:
    """The first SMTP reply code (2xx/4xx/5xx followed by a space or dash) in ``text``."""
    m = _REPLY_IN_TEXT.search(text, 0, 8000)  # its [0-5] is the second digit's only check
    return m.group(0) if m else ""


def is_generic(status: str) -> bool:
    """x.0.0 and pseudo x.0.9nn codes: they tell the class and nothing else."""
    return status.endswith(".0.0") or status.startswith(("5.0.9", "4.0.9")) or status == ""


def prefer(reported: str, in_text: str, reply_code: str) -> str:
    """Choose between the report's Status: field and a code in the diagnostic text.

    The remote server's own code is the more precise when it is of the same class as the
    report's (a report often says 5.0.0 or 4.4.7 for any failure); a code of another class
    loses to the report's final verdict.
    """
    if not reported:
        return in_text
    if not in_text or in_text == reported:
        return reported
    if in_text[0] == reported[0] and not is_generic(in_text):
        return in_text
    if reply_code and reply_code[0] == in_text[0] and not is_generic(in_text):
        return in_text  # the server's own reply code and status agree against the report's
    return reported
