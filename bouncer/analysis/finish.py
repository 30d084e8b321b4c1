"""From what a decoder found to the final per-recipient verdict: status, reason, hard."""

from __future__ import annotations

import re
from datetime import datetime

from bouncer.analysis.mta.base import Found, find_command
from bouncer.analysis.reasons import Evidence, classify
from bouncer.analysis.reasons.lda import reason_from_agent
from bouncer.analysis.reasons.phrases import MATCH_LIMIT
from bouncer.analysis.reasons.status import find_reply_code, find_status, prefer, pseudo_status
from bouncer.analysis.result import Recipient
from bouncer.analysis.rhost import reason_from_provider
from bouncer.analysis.taxonomy import Kind, Reason, is_hard

DIAGNOSTIC_LIMIT = 2000
_CONTINUATION = re.compile(r"(?<!\S)[245]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\s)?")
_NO_STATUS = frozenset({Reason.FEEDBACK, Reason.VACATION})


def squeeze(text: str) -> str:
    """``" ".join(text.split())``: whitespace runs become one space, none at the ends."""
    # Most decoders squeeze their diagnostics already: splitting and joining again costs 10x
    # more than seeing so (a printable text has no whitespace but spaces).
    if text.isprintable() and "  " not in text and not text.startswith(" ") and not text.endswith(" "):
        return text
    return " ".join(text.split())


def _unfold(diagnostic: str, reply_code: str) -> str:
    """Drop the "550-5.7.1 " prefixes of a multi-line SMTP reply that were folded into one
    line, so that phrases split across the reply's lines match again."""
    if not reply_code or f"{reply_code}-" not in diagnostic:
        return diagnostic
    head, sep, rest = diagnostic.partition(reply_code)
    rest = _CONTINUATION.sub(" ", rest)
    return " ".join((head + sep + rest).split())


def _known_reason(
    remote_mta: str,
    reporting_mta: str,
    status: str,
    diagnostic: str,
    lowered: str,
    recipient_domain: str = "",
    command: str = "",
) -> Reason | None:
    """What the local delivery agent, or the provider (by its remote MTA, the recipient's
    domain, signs in the text, else the reporting MTA), says in its own documented terms.
    ``lowered`` is ``diagnostic.lower()``."""
    return (
        reason_from_agent(diagnostic, lowered)
        or reason_from_provider(remote_mta, status, lowered, recipient_domain, command, diagnostic_is_lower=True)
        or (
            reason_from_provider(reporting_mta, status, lowered, "", command, by_signs=False, diagnostic_is_lower=True)
            if reporting_mta
            else None
        )
    )


def finish_recipient(found: Found, reporting_mta: str = "", arrival_date: datetime | None = None) -> Recipient:
    diagnostic = squeeze(found.diagnostic)[:DIAGNOSTIC_LIMIT]
    reply_code = found.reply_code or find_reply_code(diagnostic)
    if reply_code and f"{reply_code}-" in diagnostic:  # (_unfold's own test, saving a call)
        diagnostic = _unfold(diagnostic, reply_code)
    status = prefer(found.status, find_status(diagnostic), reply_code)
    command = found.command or find_command(diagnostic)
    spec = found.spec
    if spec in ("UNKNOWN", "X-UNKNOWN", "RFC822"):
        spec = ""  # says nothing about the diagnostic's nature
    if spec == "X-POSTFIX" and reply_code:
        spec = "SMTP"  # Postfix's own wording around a remote server's SMTP reply
    # The provider's documented codes are more precise than the reporting MTA's own sentence
    # and than generic phrases.
    domain = found.address.rsplit("@", 1)[-1].lower()
    lowered = diagnostic.lower()
    hint = _known_reason(found.remote_mta, reporting_mta, status, diagnostic, lowered, domain, command) or found.reason
    reason: Reason
    if hint is not None and hint is not Reason.UNDEFINED and hint is not Reason.ONHOLD:
        reason = hint  # classify's first rule, without building its evidence
    else:
        reason = classify(
            Evidence(
                status=status,
                diagnostic=diagnostic,
                action=found.action,
                command=command,
                spec=spec,
                reply_code=reply_code,
                hint=hint,
            ),
            # normalise(diagnostic), which is this: the diagnostic's whitespace is squeezed
            # already and it is shorter than the window normalise() squeezes
            normalised=lowered[:MATCH_LIMIT],
        )
    if reason is Reason.ONHOLD and found.borrowed and not status and not reply_code:
        # the report's general text, no code, nothing recognisable: nothing was said about
        # this recipient itself (Sisimai: no diagnosis is "undefined", unread words "onhold")
        reason = Reason.UNDEFINED
    if reason in _NO_STATUS:
        status, reply_code = "", ""
    elif not status:
        # Sisimai's rule: permanent unless the failure's own codes (or the decoder) say passing
        # (no status code was found in the diagnostic either, or it would be the status)
        temporary = found.temporary or reply_code.startswith("4")
        status = pseudo_status(reason, temporary)
    if reply_code and status and reply_code[0] != status[0]:
        reply_code = ""
    action = found.action
    if not action and reason not in _NO_STATUS:
        if reason is Reason.DELIVERED:
            action = "delivered"
        elif status[:1] in ("4", "5"):
            action = "failed"
    return Recipient(
        address=found.address.lower(),
        action=action,
        status=status,
        reply_code=reply_code,
        reason=reason,
        hard=is_hard(reason, status),
        diagnostic=diagnostic,
        remote_mta=found.remote_mta,
        arrival_date=arrival_date,
    )


def kind_of(recipients: tuple[Recipient, ...]) -> Kind:
    actions = {r.action for r in recipients}
    if not recipients:
        return Kind.NOT_BOUNCE
    if "failed" in actions:
        return Kind.BOUNCE
    if actions <= {"delivered", "relayed", "expanded"}:
        return Kind.DELIVERED
    if "delayed" in actions:
        return Kind.DELAY
    return Kind.BOUNCE
