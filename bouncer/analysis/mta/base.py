"""What every mail-system decoder shares: the report in hand, what it found, text helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property

from bouncer.analysis import mime
from bouncer.analysis.taxonomy import Kind, Reason

BODY_LIMIT = 48 * 1024  # characters of the report's own text that decoders scan


@dataclass(slots=True)
class Found:
    """One recipient as a decoder read it, before the reason and status are settled."""

    address: str
    action: str = ""
    status: str = ""
    reply_code: str = ""
    diagnostic: str = ""
    spec: str = ""  # Diagnostic-Code type: SMTP, X-UNIX, ...
    remote_mta: str = ""
    command: str = ""
    reason: Reason | None = None  # set when the format states the reason outright
    feedback_type: str = ""


@dataclass(slots=True)
class Decoded:
    mail_system: str
    recipients: list[Found] = field(default_factory=list)
    kind: Kind | None = None  # forced kind (complaint, autoreply); otherwise from the actions
    feedback_type: str | None = None


# ------------------------------------------------------------------------------------------
# addresses

ADDRESS_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-.]{0,250}[A-Za-z0-9])?")
_ANGLE_ADDRESS_RE = re.compile(r"<([^<>@\s]{1,64}@[^<>\s]{1,255})>")


def clean_address(text: str) -> str:
    """The bare lower-cased address in ``text`` ('rfc822; <A@B>' -> 'a@b'), '' when none."""
    if ";" in text:
        text = text.split(";", 1)[1]
    m = _ANGLE_ADDRESS_RE.search(text)
    if m:
        candidate = m.group(1)
    else:
        m2 = ADDRESS_RE.search(text)
        if not m2:
            return ""
        candidate = m2.group(0)
    candidate = candidate.strip().strip("<>\"'.,;:()[]").lower()
    if candidate.startswith("mailto:"):
        candidate = candidate[7:]
    if "@" not in candidate or candidate.startswith("@") or candidate.endswith("@"):
        return ""
    return candidate


# ------------------------------------------------------------------------------------------
# SMTP commands named in a diagnostic

# Commands in session order: when a text names several, the failure came at the latest.
_COMMANDS = (
    ("HELO", re.compile(r"\bHELO\b")),
    ("EHLO", re.compile(r"\bEHLO\b|initial connection|SENT_SECOND_EHLO")),
    ("STARTTLS", re.compile(r"\bSTARTTLS\b")),
    ("AUTH", re.compile(r"\bAUTH (?:PLAIN|LOGIN|CRAM|DIGEST)")),
    ("MAIL", re.compile(r"\bMAIL F(?:ROM|rom)|mail from:|MAIL command|MAIL_FROM\b")),
    ("RCPT", re.compile(r"\bRCPT\b|rcpt to|RCPT_TO|does not like recipient|RCPT command")),
    ("DATA", re.compile(r"\bDATA\b|end of data|after data|final DATA|\(DATA\)")),
)


def find_command(text: str) -> str:
    """The SMTP command a failure answered: the latest in the session that the text names."""
    if not text:
        return ""
    latest = ""
    for name, pattern in _COMMANDS:
        if pattern.search(text, 0, 4000):
            latest = name
    if latest == "RCPT" and "RCPT first" in text:
        return ""
    return latest


# ------------------------------------------------------------------------------------------
# RFC 3464 fields

_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9\-]{1,40})\s*:\s?(.*)$")


def parse_fields(text: str) -> list[dict[str, str]]:
    """Blocks of ``Name: value`` lines (folded lines joined), split at blank lines.

    Field names are lower-cased; a repeated field keeps its first value.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current, last = {}, ""
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        m = _FIELD_RE.match(line)
        if m:
            last = m.group(1).lower()
            if last not in current:
                current[last] = m.group(2).strip()
            else:
                last = ""
        else:
            last = ""
    if current:
        blocks.append(current)
    return blocks


def split_spec(value: str) -> tuple[str, str]:
    """'smtp; 550 ...' -> ('SMTP', '550 ...')."""
    if ";" in value:
        spec, rest = value.split(";", 1)
        if len(spec) < 20 and " " not in spec.strip():
            return spec.strip().upper(), rest.strip()
    return "", value.strip()


# ------------------------------------------------------------------------------------------
# The report in hand

_ORIGINAL_MARKERS = re.compile(
    r"^[ \t>]*(?:-{2,}|={2,}|\*{2,})?[ \t]*(?:"
    r"Below this line is a copy of the message|This is a copy of the message|"
    r"(?:The )?(?:header of the )?original message(?: headers?)?(?: is following| follows)?|"
    r"Original message headers|Returned message|Unsent message below|Message headers? follows?|"
    r"Original message follows|Forwarded message|Undelivered message headers|"
    r"The header of the original message is following|Headers of the original message|"
    r"Included is a copy of the message header|Message header follows|"
    r"Original Message:?|Original mail header"
    r")[ \t.:]*(?:-{2,}|={2,}|\*{2,})?[ \t]*$",
    re.M | re.I,
)


AUTOREPLY_SUBJECT = re.compile(
    r"^(?:auto(?:matic)?[ -]?(?:reply|response|antwort|respuesta|risposta)|auto:|autoreply|"
    r"out of (?:the )?office|ooo\b|away\b|vacation|on vacation|abwesenheit|absence|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|i am away|i'm away|"
    r"fuera de la oficina|afwezig|自動応答|自动回复)",
    re.I,
)


class Report:
    """One report under analysis: its headers and its own text, read lazily and bounded."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg

    @cached_property
    def parts(self) -> list[tuple[Message, int]]:
        return list(mime.walk(self.msg))

    def header(self, name: str) -> str:
        return mime.header(self.msg, name)

    @cached_property
    def from_(self) -> str:
        return self.header("From").lower()

    @cached_property
    def subject(self) -> str:
        return self.header("Subject")

    @cached_property
    def subject_lower(self) -> str:
        return self.subject.lower()

    @cached_property
    def return_path_null(self) -> bool:
        rp = self.msg.get("Return-Path")
        return rp is not None and str(rp).strip() in ("<>", "")

    @cached_property
    def content_types(self) -> list[str]:
        return [p.get_content_type() for p, _ in self.parts]

    def parts_of(self, *ctypes: str) -> list[Message]:
        return [p for p, _ in self.parts if p.get_content_type() in ctypes]

    @cached_property
    def text(self) -> str:
        """The report's own human-readable text: its text/plain parts (else its HTML as text),
        outside any attached original, capped at BODY_LIMIT characters."""
        chunks: list[str] = []
        size = 0
        html: list[str] = []
        for part, _depth in self.parts:
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            if ctype == "text/plain":
                body = mime.part_text(part)
            elif ctype == "text/html":
                if not chunks:
                    html.append(mime.html_to_text(mime.part_text(part)))
                continue
            elif ctype in ("message/delivery-status", "message/global-delivery-status", "text/rfc822-headers"):
                continue
            elif part is self.msg or ctype.startswith("text/"):
                body = mime.part_text(part) if part is self.msg else ""
            else:
                continue
            if not body:
                continue
            chunks.append(body)
            size += len(body)
            if size > BODY_LIMIT:
                break
        if not chunks and html:
            chunks = html
        return "\n".join(chunks)[:BODY_LIMIT]

    @cached_property
    def text_before_original(self) -> str:
        """The report's text up to the marker where a quoted original begins."""
        text = self.text
        m = _ORIGINAL_MARKERS.search(text)
        return text[: m.start()] if m else text

    @cached_property
    def delivery_status_text(self) -> str:
        parts = self.parts_of("message/delivery-status", "message/global-delivery-status")
        out: list[str] = []
        for part in parts[:3]:
            payload = part.get_payload()
            if isinstance(payload, list):
                for block in payload[:200]:
                    if isinstance(block, Message):
                        out.append("\n".join(f"{k}: {v}" for k, v in block.items()))
                        out.append("")
                        # a block parsed as headers may carry further fields in its "body"
                        extra = block.get_payload()
                        if isinstance(extra, str) and extra.strip():
                            out.append(extra)
                            out.append("")
            else:
                out.append(mime.part_text(part))
                out.append("")
        return "\n".join(out)

    @cached_property
    def original_headers_text(self) -> str:
        """Headers of the returned original, when the report carries it as a part."""
        for part, _ in self.parts:
            ctype = part.get_content_type()
            if ctype == "text/rfc822-headers":
                return mime.part_text(part, 16 * 1024)
            if ctype in ("message/rfc822", "message/global"):
                payload = part.get_payload()
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    return "\n".join(f"{k}: {v}" for k, v in payload[0].items())
                return mime.part_text(part, 16 * 1024).split("\n\n", 1)[0]
        return ""
