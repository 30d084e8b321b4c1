"""A report that a person forwarded: "Fwd: Returned mail: see transcript for details".

Staff who find a bounce in their own mailbox often forward it to the bounce inbox. The
forward is a person's mail, but what it carries is a report like any other: its failures
are as real as if the report had arrived itself. So when a message is no report of its own,
the message it forwards inline (after the forwarding client's header block, quoted with
``>`` or not) is cut out and analysed on its own; if that is a report, the forward is
taken for it. A forwarded campaign mail, a forwarded person's mail or an out-of-office reply
stays what the forward is: a person's mail.

The forwarded block is recognised by its shape, as the clients write it (Apple Mail, Gmail,
Outlook, Thunderbird, in several languages): a run of ``Name: value`` lines that names at
least the sender and the subject. Forwards as an attachment are read the same way, from
the attached message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message

from bouncer.analysis.mta.base import Report

# What the forwarding clients call the fields of their header block, lower case, by the
# English name a message parser knows. Localised names matter: SinergiaCRM's users forward
# from Spanish, Catalan, French, German, Italian and Portuguese mail clients.
_FROM = ("from", "de", "von", "da", "van")
_SUBJECT = ("subject", "asunto", "assumpte", "objet", "betreff", "oggetto", "assunto", "onderwerp")
_DATE = (
    "date", "sent", "fecha", "enviado", "enviado el", "enviat", "enviat el", "data", "envoyé", "envoyé le",
    "gesendet", "inviato", "datum", "verzonden",
)  # fmt: skip
_TO = ("to", "para", "per", "per a", "à", "an", "a", "aan")
_SKIPPED = ("cc", "message-id", "reply-to", "return-path")  # part of the block, not needed
_FIELD_NAMES: dict[str, str] = {
    **dict.fromkeys(_FROM, "From"),
    **dict.fromkeys(_SUBJECT, "Subject"),
    **dict.fromkeys(_DATE, "Date"),
    **dict.fromkeys(_TO, "To"),
    **dict.fromkeys(_SKIPPED, ""),
}
# "Fwd:", "FW:", and the prefixes of other languages' clients (TR, WG, RV, ENC, I, Doorst,
# VS, VB, PD), after a list's [tag] if any.
_FORWARD_SUBJECT = re.compile(
    r"\s*(?:\[[^\]]{0,40}\]\s*)?(?:fwd?|tr|wg|rv|enc|i|doorst|vs|vb|vl|pd)\s*(?:\[\d+\])?\s*:", re.IGNORECASE
)
_QUOTE = re.compile(r"^> ?")  # one level of quoting
_FIELD_LINE = re.compile(r"^(?:> ?)*\*?([^\s:*][^:*]{0,20}?)\*?:[ \t]*(.*)$")
# Clients put at most a few lines of their own between a marker and the header block; a
# block further down than this into the text is no forward's.
_MAX_BLOCKS = 20
_MAX_ATTACHED = 3


def forwarded_messages(report: Report) -> Iterator[bytes]:
    """The messages ``report`` forwards, as bytes to analyse: attached ones, then the inline one.

    Only a message that calls itself a forward (its subject) and says nothing of being a
    machine's report in its own headers is read so: a bounce that quotes the original's
    header block, or returns a bounce of its own, is not a forward.
    """
    if not _FORWARD_SUBJECT.match(report.subject) or report.says_report:
        return
    yield from _attached(report)
    inline = _inline(report.text)
    if inline is not None:
        yield inline


def _attached(report: Report) -> Iterator[bytes]:
    # A client forwarding a bounce inline may attach the bounce's own attachments (the
    # returned campaign mail among them): each attached message is a candidate.
    for part in report.parts_of("message/rfc822")[:_MAX_ATTACHED]:
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            try:
                yield payload[0].as_bytes()
            except Exception:  # a tree the generator cannot write back: skip it
                continue


def _inline(text: str) -> bytes | None:
    lines = text.split("\n")
    blocks_seen = 0
    index = 0
    while index < len(lines) and blocks_seen < _MAX_BLOCKS:
        fields, end = _header_block(lines, index)
        if not fields:
            index += 1
            continue
        blocks_seen += 1
        names = {name for name, _ in fields}
        if {"From", "Subject"} <= names:
            return _message(fields, lines[end:], quoted=bool(_QUOTE.match(lines[index])))
        index = end
    return None


def _header_block(lines: list[str], start: int) -> tuple[list[tuple[str, str]], int]:
    """The fields of the header block starting at ``lines[start]``, and where it ends."""
    fields: list[tuple[str, str]] = []
    index = start
    while index < len(lines):
        match = _FIELD_LINE.match(lines[index])
        if match is None:
            break
        name = _FIELD_NAMES.get(match.group(1).strip().lower())
        if name is None:
            break
        if name:
            fields.append((name, match.group(2).strip()))
        index += 1
    return (fields if len(fields) >= 2 else []), index


def _message(fields: list[tuple[str, str]], body: list[str], *, quoted: bool) -> bytes:
    if quoted:
        kept: list[str] = []
        for line in body:
            unquoted = _QUOTE.sub("", line)
            if unquoted == line and line.strip():
                break  # the quote is over: what follows is the forwarder's own again
            kept.append(unquoted)
        body = kept
    # A blank line between the header block and the body, as a message has; a body that
    # starts with its own blank line keeps it.
    head = "".join(f"{name}: {value}\n" for name, value in fields)
    return (head + "\n" + "\n".join(body).lstrip("\n")).encode("utf-8", "surrogateescape")
