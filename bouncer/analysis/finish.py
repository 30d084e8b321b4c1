"""From what a decoder found to the final per-recipient verdict: status, reason, hard."""

from __future__ import annotations

from bouncer.analysis.mta.base import Found, find_command
from bouncer.analysis.reasons import RETRY, Evidence, classify
from bouncer.analysis.reasons.status import find_reply_code, find_status, prefer, pseudo_status
from bouncer.analysis.result import Recipient
from bouncer.analysis.rhost import reason_from_provider
from bouncer.analysis.taxonomy import Kind, Reason, is_hard

DIAGNOSTIC_LIMIT = 2000
_NO_STATUS = frozenset({Reason.FEEDBACK, Reason.VACATION})


def finish_recipient(found: Found) -> Recipient:
    diagnostic = " ".join(found.diagnostic.split())[:DIAGNOSTIC_LIMIT]
    reply_code = found.reply_code or find_reply_code(diagnostic)
    status = prefer(found.status, find_status(diagnostic), reply_code)
    command = found.command or find_command(diagnostic)
    hint = found.reason
    if hint is None or hint in RETRY:
        hint = reason_from_provider(found.remote_mta, status, diagnostic) or hint
    reason = classify(
        Evidence(
            status=status,
            diagnostic=diagnostic,
            action=found.action,
            command=command,
            spec=found.spec,
            reply_code=reply_code,
            hint=hint,
        )
    )
    if reason in _NO_STATUS:
        status, reply_code = "", ""
    elif not status:
        temporary = reply_code.startswith("4") or (not reply_code and found.action == "delayed")
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
