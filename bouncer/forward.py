"""Forwarding people's mail that lands in a bounce inbox.

A campaign's sender address is usually the bounce inbox, so people's answers ("please
unsubscribe me", "thanks, see you on Friday") arrive there too. An account with
``forward_other_to`` sends each message that is not a bounce, delay, complaint or
auto-reply to that address through ``smtp.system``: a short cover note, plus the original
message byte for byte as a ``message/rfc822`` attachment. Reply-To is the original sender,
so answering the forward answers the person.

Integration (the daemon's pipeline owns the order; this module only builds and sends):

1. The pipeline records the message as usual; when :func:`should_forward` says so, with a
   forward pending and its disposition held back (it stays in the inbox until forwarded:
   nothing is lost). Once forwarded it is disposed of like a bounce (``account.dispose``).
2. A forwarding step picks recorded messages whose forward is pending, marks each one
   claimed (``forward_started_at``, committed), calls :func:`forward_message`, then
   marks it done (``forwarded_at``, committed) and lets its disposition go ahead.
3. On a restart, a message claimed but never marked done is not sent again (the claim
   proves a send may have happened: never forward twice); it is logged as a warning and
   left in the inbox (disposition ``none``) for a person to look at.
4. :class:`~bouncer.smtp.SmtpError` from :func:`forward_message` means the server did not
   take the message: clear the claim and retry later (the error's ``hint`` says why).

The Message-ID of a forward is derived from the account and the original's SHA-256, so
even a forward repeated by hand is recognisably the same message to the receiving side.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, formataddr

from bouncer.analysis.result import Analysis
from bouncer.analysis.taxonomy import Kind
from bouncer.config import AccountConfig, SmtpAccountConfig
from bouncer.smtp import send_message

_LINE_END = re.compile(rb"\r\n|\r|\n")
_MAX_SUBJECT = 200


def should_forward(account: AccountConfig, analysis: Analysis) -> bool:
    """Whether a recorded message is a person's mail that this account forwards.

    Only ``not_bounce`` messages of bounce accounts with ``forward_other_to``: bounces,
    delays, complaints and auto-replies are what bouncer handles itself; success notices
    (``delivered``) are machine mail too; a message whose analysis failed is not forwarded
    (it stays in the inbox untouched, where a person sees it anyway). Group accounts are
    read by people already.
    """
    return (
        account.role == "bounce"
        and account.forward_other_to is not None
        and analysis.error is None
        and analysis.kind is Kind.NOT_BOUNCE
    )


def _header(original: EmailMessage, name: str) -> str:
    try:
        value = original.get(name)
    except Exception:  # a malformed header must not stop a forward
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def forward_message_id(account: str, raw: bytes, domain: str) -> str:
    digest = hashlib.sha256(raw).hexdigest()[:32]
    return f"<bouncer-forward.{digest}.{account}@{domain}>"


def build_forward(
    smtp: SmtpAccountConfig,
    to: str,
    raw: bytes,
    account: str,
    *,
    truncated: bool = False,
    now: datetime | None = None,
) -> bytes:
    """The forward as bytes ready for SMTP: headers, cover note, the original attached unchanged."""
    original = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    assert isinstance(original, EmailMessage)
    sender, subject = _header(original, "From"), _header(original, "Subject")
    date, recipient = _header(original, "Date"), _header(original, "To")
    domain = smtp.from_address.rsplit("@", 1)[1]

    head = EmailMessage(policy=policy.SMTP)
    head["From"] = formataddr((smtp.from_name or "bouncer", smtp.from_address))
    head["To"] = to
    head["Subject"] = ("Fwd: " + (subject or "(no subject)"))[:_MAX_SUBJECT]
    head["Date"] = format_datetime(now or datetime.now(UTC))
    head["Message-ID"] = forward_message_id(account, raw, domain)
    if sender:
        with contextlib.suppress(Exception):  # an unparsable From: the cover note still names it
            head["Reply-To"] = sender
    head["Auto-Submitted"] = "auto-forwarded"  # RFC 3834: auto-responders must not answer
    head["X-Bouncer-Account"] = account
    boundary = f"bouncer-{secrets.token_hex(16)}"
    while boundary.encode() in raw:  # practically never; but a boundary must not occur inside
        boundary = f"bouncer-{secrets.token_hex(16)}"
    head["MIME-Version"] = "1.0"
    head["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'

    note = [
        f"This message arrived in the bounce inbox of the account {account}. It is not a bounce, a delivery "
        "delay, a complaint or an auto-reply, so it is probably a person answering a campaign; bouncer forwards "
        "it to you and has set Reply-To to its sender.",
        "",
        f"From:    {sender or '(unknown)'}",
        f"To:      {recipient or '(unknown)'}",
        f"Date:    {date or '(unknown)'}",
        f"Subject: {subject or '(no subject)'}",
    ]
    if truncated:
        note += ["", "The message was too large to fetch whole: only its header is attached."]
    cover = EmailMessage(policy=policy.SMTP)
    cover.set_content("\n".join(note) + "\n", charset="utf-8", cte="quoted-printable")

    body = _LINE_END.sub(b"\r\n", raw)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    encoding = "7bit" if body.isascii() else "8bit"
    return b"".join(
        (
            b"".join(policy.SMTP.fold_binary(name, value) for name, value in head.items()) + b"\r\n",
            b"This is a forwarded message in MIME format.\r\n",
            f"--{boundary}\r\n".encode(),
            bytes(cover).rstrip(b"\r\n") + b"\r\n",
            f"--{boundary}\r\n".encode(),
            b"Content-Type: message/rfc822\r\n",
            b'Content-Disposition: attachment; filename="forwarded-message.eml"\r\n',
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode(),
            body,
            f"--{boundary}--\r\n".encode(),
        )
    )


async def forward_message(
    smtp_cfg: SmtpAccountConfig,
    to: str,
    raw: bytes,
    account: str,
    *,
    truncated: bool = False,
) -> None:
    """Send ``raw`` to ``to`` as an attachment of a short cover note, through ``smtp_cfg``.

    Raises :class:`bouncer.smtp.SmtpError` when the server does not accept it (nothing was
    sent then, as far as the server told us). Every network step has the server's timeout.
    """
    await send_message(smtp_cfg, build_forward(smtp_cfg, to, raw, account, truncated=truncated), [to])
