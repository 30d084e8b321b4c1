"""Deciding a recipient's reason from the evidence a decoder gathered.

The procedure, after Sisimai's (the reference taxonomy):

1. a reason the mail-system decoder read outright from its format wins, unless it is one of
   the vague ones (``RETRY``) that deserve a second look;
2. a success status (2.x.x) is ``delivered``;
3. ``FIRST_PASS``: reasons whose own test combines the status code and the text;
4. ``SECOND_PASS``: the status code's reason, refined by text for the vague ones; then the
   status class (x.6 content, x.7 security), the diagnostic type (X-Unix: mailer), the
   action (delayed: expired) and the SMTP command (HELO/EHLO: blocked);
5. ``onhold`` when there was text but nothing recognisable, ``undefined`` when none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from bouncer.analysis.reasons.phrases import Said, normalise
from bouncer.analysis.reasons.status import STATUS_REASON
from bouncer.analysis.taxonomy import Reason

R = Reason

# Reasons too vague to stop at: look again at the text.
RETRY: frozenset[Reason] = frozenset(
    {R.UNDEFINED, R.ONHOLD, R.SYSTEMERROR, R.SECURITYERROR, R.EXPIRED, R.SUSPEND, R.NETWORKERROR,
     R.HOSTUNKNOWN, R.USERUNKNOWN}
)  # fmt: skip


class Evidence(NamedTuple):
    """What the classifier looks at for one recipient. (A NamedTuple, not a frozen dataclass:
    as immutable, and built in half the time, once per recipient.)"""

    status: str = ""
    diagnostic: str = ""  # the remote server's words, as reported
    action: str = ""
    command: str = ""  # the SMTP command that failed: HELO, EHLO, MAIL, RCPT, DATA, ...
    spec: str = ""  # the Diagnostic-Code type: SMTP, X-UNIX, X-POSTFIX, ...
    reply_code: str = ""
    hint: Reason | None = None  # what the mail-system decoder read from its format


# Texts that, even under a 5.1.1, say the trouble is something other than the mailbox.
_NOT_USERUNKNOWN = (R.NORELAYING, R.BLOCKED, R.MAILBOXFULL, R.HASMOVED, R.REJECTED, R.NOTACCEPT, R.FILTERED)


def _userunknown(e: Evidence, said: Said, by_status: Reason | None) -> bool:
    if by_status is R.SUSPEND:
        return False
    if by_status is R.USERUNKNOWN:
        # 5.1.1 unless the text says it is really something else
        return not any(said.says(r) for r in _NOT_USERUNKNOWN)
    return e.command == "RCPT" and said.says(R.USERUNKNOWN)


def _filtered(e: Evidence, said: Said, by_status: Reason | None) -> bool:
    if by_status is R.SUSPEND:
        return False
    if by_status is R.FILTERED:
        return said.says(R.USERUNKNOWN) or said.says(R.FILTERED)
    if e.command not in ("RCPT", "MAIL"):
        # "user unknown" after DATA is a content filter pretending the user is unknown
        return said.says(R.FILTERED) or said.says(R.USERUNKNOWN)
    return False


def _rejected(e: Evidence, said: Said, by_status: Reason | None) -> bool:
    if by_status is R.REJECTED:
        return True
    d = said.text
    if "recipient address rejected" in d or "sender ip address rejected" in d or "5.1.0 address rejected" in d:
        return False
    if e.command == "MAIL":
        return said.says(R.REJECTED)
    if e.command == "DATA":
        return by_status is not R.USERUNKNOWN and said.says(R.REJECTED)
    if by_status is R.USERUNKNOWN:
        # an x.1.0/x.1.1 whose text says the sender was refused is the sender's problem
        return "sender" in d and said.says(R.REJECTED)
    if by_status in (None, R.ONHOLD, R.UNDEFINED, R.SECURITYERROR, R.SYSTEMERROR):
        return said.says(R.REJECTED)
    return False


def _hostunknown(e: Evidence, said: Said, by_status: Reason | None) -> bool:
    if e.status.startswith("4") or (not e.status and e.reply_code.startswith("4")):
        return False  # a passing DNS failure is not an authoritative "no such domain"
    if by_status is R.HOSTUNKNOWN:
        return not said.says(R.NETWORKERROR)
    return said.says(R.HOSTUNKNOWN)


def _mesgtoobig(e: Evidence, said: Said, by_status: Reason | None) -> bool:
    if by_status is R.MESGTOOBIG:
        return True
    if by_status is R.EXCEEDLIMIT:
        return False
    return said.says(R.MESGTOOBIG)


class _Plain(NamedTuple):
    """The plain test of a first-pass reason: the text says it or, with ``or_status``, the
    status code's reason is it; with ``needs_status``, only when there is a status. (Data
    read in classify's loop, not a function per reason: a call apiece costs more than the
    test.)"""

    or_status: bool
    needs_status: bool = False


_Test = Callable[[Evidence, Said, Reason | None], bool]

FIRST_PASS: tuple[tuple[Reason, _Plain | _Test], ...] = (
    (R.MAILBOXFULL, _Plain(or_status=True, needs_status=True)),
    (R.MESGTOOBIG, _mesgtoobig),
    (R.EXCEEDLIMIT, _Plain(or_status=True)),
    (R.SUSPEND, _Plain(or_status=False, needs_status=True)),
    (R.HASMOVED, _Plain(or_status=True)),
    (R.NORELAYING, _Plain(or_status=False)),
    (R.AUTHFAILURE, _Plain(or_status=True)),
    (R.USERUNKNOWN, _userunknown),
    (R.FILTERED, _filtered),
    (R.REQUIREPTR, _Plain(or_status=True)),
    (R.NOTCOMPLIANTRFC, _Plain(or_status=False)),
    (R.BADREPUTATION, _Plain(or_status=False)),
    (R.CONTENTERROR, _Plain(or_status=False)),
    (R.REJECTED, _rejected),
    (R.HOSTUNKNOWN, _hostunknown),
    (R.SPAMDETECTED, _Plain(or_status=True, needs_status=True)),
    (R.SPEEDING, _Plain(or_status=False, needs_status=True)),
    (R.TOOMANYCONN, _Plain(or_status=True)),
    (R.BLOCKED, _Plain(or_status=True)),
)

# FIRST_PASS with the two kinds of test apart, so that the loop tells them apart without an
# isinstance() call apiece.
_FIRST_PASS_STEPS: tuple[tuple[Reason, _Plain | None, _Test | None], ...] = tuple(
    (reason, test, None) if isinstance(test, _Plain) else (reason, None, test) for reason, test in FIRST_PASS
)

SECOND_PASS = (
    R.MAILBOXFULL, R.SPAMDETECTED, R.POLICYVIOLATION, R.VIRUSDETECTED, R.NORELAYING, R.AUTHFAILURE,
    R.BADREPUTATION, R.SECURITYERROR, R.SYSTEMERROR, R.NETWORKERROR, R.SPEEDING, R.SUSPEND, R.EXPIRED,
    R.CONTENTERROR, R.SYSTEMFULL, R.NOTACCEPT, R.MAILERERROR, R.FAILEDSTARTTLS, R.SUPPRESSED,
)  # fmt: skip

_SYNTAX_REPLY = re.compile(r"\A[45]0[0-7]\Z")


def _second_pass(e: Evidence, said: Said, by_status: Reason | None) -> Reason | None:
    if by_status is None or by_status in RETRY or e.spec not in ("", "SMTP"):
        for reason in SECOND_PASS:
            if said.says(reason):
                return reason
    if e.command == "MAIL" and by_status in (None, R.SECURITYERROR, R.SYSTEMERROR):
        # refused in reply to MAIL FROM, for no more precise a reason: the sender was refused
        return R.REJECTED
    if e.command in ("HELO", "EHLO") and by_status in (None, R.SECURITYERROR, R.SYSTEMERROR):
        # refused before any address was given: the connecting host was refused
        return R.BLOCKED
    if by_status is not None:
        return by_status
    family = e.status[:3]
    if family in ("5.6", "4.6"):
        return R.CONTENTERROR
    if family in ("5.7", "4.7"):
        return R.SECURITYERROR
    if e.spec in ("X-UNIX", "X-POSTFIX"):
        return R.MAILERERROR
    if _SYNTAX_REPLY.match(e.reply_code) or (e.status.startswith(("5.5.", "4.5.")) and e.status[4:] in ("1", "2", "4")):
        return R.SYNTAXERROR
    if e.action.startswith(("delayed", "expired")):
        return R.EXPIRED
    if e.command in ("HELO", "EHLO"):
        return R.BLOCKED
    return None


def classify(e: Evidence, normalised: str | None = None) -> Reason:
    """The recipient's reason. ``normalised`` is ``normalise(e.diagnostic)`` when the caller
    has it already."""
    if e.hint is not None and e.hint not in (R.UNDEFINED, R.ONHOLD):
        return e.hint
    if e.status.startswith("2."):
        return R.DELIVERED
    said = Said(normalise(e.diagnostic) if normalised is None else normalised)
    if e.hint is not None and e.hint is not R.UNDEFINED and e.hint is not R.ONHOLD:
        # A vague hint from the decoder still beats the vague fallbacks below.
        fallback: Reason | None = e.hint
    else:
        fallback = None
    by_status = STATUS_REASON.get(e.status)  # reason_of_status(), without the call
    if e.spec in ("", "SMTP"):
        for reason, plain, own_test in _FIRST_PASS_STEPS:
            if plain is not None:
                if (e.status or not plain.needs_status) and (
                    (plain.or_status and by_status is reason) or said.says(reason)
                ):
                    return reason
            elif own_test is not None and own_test(e, said, by_status):
                return reason
    found = _second_pass(e, said, by_status)
    if found is not None and (fallback is None or found not in RETRY):
        return found
    if fallback is not None:
        return fallback
    if e.action == "delayed":
        return R.EXPIRED
    if said.says(R.VACATION):
        return R.VACATION
    return R.ONHOLD if said.text.strip() else R.UNDEFINED


__all__ = ["Evidence", "classify"]
