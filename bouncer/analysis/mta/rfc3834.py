"""RFC 3834 automatic replies: out-of-office, vacation and other auto-responders.

Evidence: ``Auto-Submitted: auto-replied``, ``X-Autoreply``/``X-Autorespond``,
``Precedence: auto_reply``, or a subject in the usual auto-reply forms ("Automatic reply:",
"Out of Office", "Auto:", vacation notices). Checked only after no bounce decoder matched:
Exim marks its own bounces ``Auto-Submitted: auto-replied`` too.
"""

from __future__ import annotations

import re

from bouncer.analysis.mta.base import Decoded, Found, Report, clean_address
from bouncer.analysis.taxonomy import Kind, Reason

NAME = "RFC3834"

_SUBJECT = re.compile(
    r"^(?:auto(?:matic)?[ -]?(?:reply|response|antwort|respuesta|risposta)|auto:|autoreply|"
    r"out of (?:the )?office|ooo\b|away\b|vacation|on vacation|abwesenheit|absence|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|i am away|i'm away|"
    r"fuera de la oficina|afwezig|自動応答|自动回复)",
    re.I,
)
_HEADER_SIGNS = ("x-autoreply", "x-autorespond", "x-mail-autoreply", "x-vacation")


def matches(report: Report) -> bool:
    auto = report.header("Auto-Submitted").lower()
    if auto.startswith("auto-replied"):
        return True
    if any(report.msg.get(h) is not None for h in _HEADER_SIGNS):
        return True
    if report.header("Precedence").lower() == "auto_reply":
        return True
    return bool(_SUBJECT.search(report.subject.strip()))


def decode(report: Report) -> Decoded | None:
    address = clean_address(report.header("From"))
    if not address:
        return None
    item = Found(address=address, action="", reason=Reason.VACATION, diagnostic=report.text[:400])
    return Decoded(mail_system=NAME, recipients=[item], kind=Kind.AUTOREPLY)
