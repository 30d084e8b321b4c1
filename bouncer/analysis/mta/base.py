"""What every mail-system decoder shares: the report in hand, what it found, text helpers."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Generic, TypeVar, overload

from mypy_extensions import mypyc_attr

from bouncer.analysis import fastparse, mime
from bouncer.analysis.taxonomy import Kind, Reason

HEADER_LIMIT = 4000  # characters of one header field that are read
BODY_LIMIT = 16 * 1024  # characters of the report's own text that decoders scan


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
    temporary: bool = False  # the failure itself was a passing one (4xx), retried until given up
    # the diagnostic is the report's general text, not words about this recipient: when it
    # says nothing recognisable, the reason is "undefined" (no words), not "onhold"
    borrowed: bool = False


@dataclass(slots=True)
class Decoded:
    mail_system: str
    recipients: list[Found] = field(default_factory=list)
    kind: Kind | None = None  # forced kind (complaint, autoreply); otherwise from the actions
    feedback_type: str | None = None
    reporting_mta: str = ""  # the host that wrote the report, when it says
    arrival_date: str = ""  # RFC 3464 Arrival-Date: when the failed message reached the reporting MTA


# ------------------------------------------------------------------------------------------
# addresses

# the domain as dot-separated labels: "user@example.net...User unknown" ends at ".net"
ADDRESS_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*"
)
_ANGLE_ADDRESS_RE = re.compile(r"<([^<>@\s]{1,64}@[^<>\s]{1,255})>")


def clean_address(text: str) -> str:
    """The bare lower-cased address in ``text`` ('rfc822; <A@B>' -> 'a@b'), '' when none."""
    if "@" not in text:
        return ""  # both patterns need one: a missing field, a name without an address
    if ";" in text:
        text = text.split(";", 1)[1]
    m = _ANGLE_ADDRESS_RE.search(text) if "<" in text else None
    if m:
        candidate = m.group(1)
    else:
        m2 = ADDRESS_RE.search(text)
        if not m2:
            return ""
        candidate = m2.group(0)
    # (neither pattern matches whitespace: no strip() of it needed)
    candidate = candidate.strip("<>\"'.,;:()[]").lower()
    if candidate.startswith("mailto:"):
        candidate = candidate[7:]
    elif candidate.startswith("smtp="):  # an X.400 address's SMTP part: "...;dda:SMTP=a@b;"
        candidate = candidate[5:]
    if "@" not in candidate or candidate.startswith("@") or candidate.endswith("@"):
        return ""
    return candidate


# ------------------------------------------------------------------------------------------
# SMTP commands named in a diagnostic

# Commands in session order, latest first, with the words reports use for each: when a text
# names several, the failure came at the latest. Plain substring tests: this runs for every
# recipient and must stay cheap.
_STAGE_WORDS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # (command, case-sensitive words, lower-case words)
    ("DATA", ("DATA",), ("end of data", "after data", "final data")),
    ("RCPT", ("RCPT", "does not like recipient"), ("rcpt to",)),
    ("MAIL", ("MAIL FROM", "MAIL From", "MAIL command", "MAIL_FROM"), ("mail from:",)),
    ("AUTH", ("AUTH PLAIN", "AUTH LOGIN", "AUTH CRAM", "AUTH DIGEST"), ()),
    ("STARTTLS", ("STARTTLS",), ()),
    ("EHLO", ("EHLO", "SENT_SECOND_EHLO"), ("initial connection",)),
    ("HELO", ("HELO",), ()),
)
_DATA_WORD = re.compile(r"\bDATA\b")
# A Sendmail transcript where the server's first words ("<<< 554 ...") follow the connection
# with no command sent: the greeting itself refused the client, the stage of HELO/EHLO.
_REFUSED_AT_GREETING = re.compile(r"while talking to [^\s:]+:?\s*<<< [45]\d\d", re.I)


# A necessary condition for find_command to name a command: every word above, lower-cased,
# contains one of these, as does "talking to". Most diagnostics hold none: these few
# substring tests of the lowered text settle them (cheaper than one search for all of them,
# whose first letters are common ones).
_STAGE_WORD_KEYS = (
    "data", "rcpt", "not like recipient", "mail from", "mail command", "mail_from", "auth ", "starttls", "ehlo",
    "helo", "initial connection", "talking to",
)  # fmt: skip


def find_command(text: str) -> str:
    """The SMTP command a failure answered: the latest in the session that the text names."""
    if not text:
        return ""
    head = text[:4000]
    lowered = head.lower()
    for key in _STAGE_WORD_KEYS:
        if key in lowered:
            break
    else:
        return ""
    # plain loops, not any() over generators: this runs for every recipient
    for command, words, lower_words in _STAGE_WORDS:
        for word in lower_words:
            if word in lowered:
                break
        else:  # no lower-case word: one of the case-sensitive ones, then
            for word in words:
                if word in head:
                    break
            else:
                continue
            if command == "DATA" and not _DATA_WORD.search(head):
                continue  # "DATABASE", "METADATA"
        if command == "RCPT" and "RCPT first" in head:
            return ""
        return command
    if "talking to" in lowered and _REFUSED_AT_GREETING.search(head):
        return "EHLO"
    return ""


# ------------------------------------------------------------------------------------------
# case-blind patterns

# Escapes that mean the same whatever the case of the text: a backslash before a character
# that is no letter or digit, and \d \s \w \b.
_CASELESS_ESCAPE = re.compile(r"\\(?:[^A-Za-z0-9]|[dswb])")
# Groups other than (?:...) and look-arounds: a named group or an inline flag.
_SPECIAL_GROUP = re.compile(r"\(\?(?![:=!]|<[=!])")


class CaseBlind:
    """A case-insensitive pattern, searched several times faster on ASCII text.

    Python's engine finds no literal to skip ahead to in a case-insensitive pattern and tries
    it at every position: a search through 2,000 characters takes 10-25x longer than that of
    the same pattern without IGNORECASE. On ASCII text (where case-blind matching is exactly
    matching the lower-cased text) the pattern, lower-cased, searches the lower-cased text
    instead. Patterns whose meaning lower-casing could change (an escape such as \\S or
    \\x41, a named group) and non-ASCII text (where IGNORECASE also matches some non-ASCII
    letters to ASCII ones: "\u017f" to "s", the Kelvin sign to "k") keep the plain search.
    """

    __slots__ = ("_blind", "_lowered", "pattern")

    def __init__(self, source: str, flags: int = 0) -> None:
        self.pattern = source
        self._blind = re.compile(source, flags | re.I)
        lowerable = "\\" not in _CASELESS_ESCAPE.sub("", source) and not _SPECIAL_GROUP.search(source)
        self._lowered = re.compile(source.lower(), flags & ~re.I) if lowerable else None

    def search(self, text: str, lowered: str | None = None) -> bool:
        """Whether the pattern occurs in ``text``; ``lowered``: ``text.lower()`` if at hand."""
        if self._lowered is not None and text.isascii():
            return self._lowered.search(text.lower() if lowered is None else lowered) is not None
        return self._blind.search(text) is not None


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
            if (
                last in ("final-recipient", "original-recipient")
                and "final-recipient" in current
                and (last == "final-recipient" or "original-recipient" in current)
            ):
                # per-recipient groups run together without the blank line between them
                blocks.append(current)
                current = {}
            if last not in current:
                current[last] = m.group(2).strip()
            else:
                last = ""
        else:
            last = ""
    if current:
        blocks.append(current)
    return blocks


# The names parse_fields takes for fields; and the names a parser gives header fields (no
# blank, no colon), for which "``name: value`` is a field line" comes down to the first.
# The names parse_fields takes for fields; and the names a parser gives header fields (no
# blank, no colon), for which "``name: value`` is a field line" comes down to the first.
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-]{1,40}")
_PARSED_NAME = re.compile(r"[!-9;-~]*")
# The usual spellings of RFC 3464's fields (and Postfix's), by their lower-cased names: a
# name found here is a field name without a pattern to try.
_USUAL_FIELDS = {
    name: name.lower()
    for name in (
        "Action", "Status", "Reporting-MTA", "Final-Recipient", "Diagnostic-Code", "Arrival-Date", "Remote-MTA",
        "Original-Recipient", "Last-Attempt-Date", "Received-From-MTA", "X-Postfix-Queue-ID", "X-Postfix-Sender",
        "Original-Envelope-Id", "Will-Retry-Until", "X-Actual-Recipient",
    )
}  # fmt: skip
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient")


def fields_of_parsed_blocks(parts: list[Message]) -> tuple[list[dict[str, str]], bool] | None:
    """What ``parse_fields`` reads in the text ``Report.delivery_status_text`` makes of these
    parts, read straight from their parsed blocks; and whether that text has a
    ``Final-Recipient:`` or ``Original-Recipient:`` line. None when a block is unusual (a
    body of its own, a blank or unindented continuation line, a name no parser gives, a
    value that is no string): the text then has to be written and read.

    Saves writing each block out as text only to cut it back into lines and match every
    line against a pattern: this runs for more than half of all reports.
    """
    blocks: list[dict[str, str]] = []
    names_recipient = False
    for part in parts[:3]:
        payload = part.get_payload()
        if not isinstance(payload, list):
            return None
        for block in payload[:200]:
            if not isinstance(block, Message):
                continue
            extra = block._payload  # type: ignore[union-attr]
            if isinstance(extra, str) and extra.strip():
                return None
            current: dict[str, str] = {}
            for name, value in block._headers:  # type: ignore[union-attr]
                if type(value) is not str or type(name) is not str:
                    return None
                continuations: Sequence[str] = ()  # no list allocated for the usual one-line field
                if "\n" in value:
                    value, _, rest = value.partition("\n")
                    continuations = rest.split("\n")
                    for line in continuations:
                        if not line.strip() or line[0] not in " \t":
                            return None  # a blank line (ends a block) or a field line of its own
                key = _USUAL_FIELDS.get(name)
                if key is None:
                    if _FIELD_NAME.fullmatch(name) is None:
                        if _PARSED_NAME.fullmatch(name) is None:
                            return None
                        continue  # no field line: ignored, and its continuation lines with it
                    key = name.lower()
                if key in _RECIPIENT_FIELDS:
                    names_recipient = True
                    if "final-recipient" in current and (key == "final-recipient" or "original-recipient" in current):
                        # per-recipient groups run together without the blank line between them
                        blocks.append(current)
                        current = {}
                if key in current:
                    continue  # a repeated field keeps its first value
                value = value.strip()
                for line in continuations:
                    value += " " + line.strip()
                current[key] = value
            if current:
                blocks.append(current)
    return blocks, names_recipient


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
    r"Original message headers|Original message details|Original message as received|"
    r"(?:Start of )?Returned message|Unsent message below|Message headers? follows?|"
    r"Original message follows|Forwarded message|Undelivered message headers|"
    r"The header of the original message is following|Headers of the original message|"
    r"Included is a copy of the message header|Message header follows|"
    r"Original Message:?|Original mail header"
    r")(?:[ \t.:,]+(?:including all (?:the )?headers|is following|(?:is )?(?:as )?follows|below))?[ \t.:=*-]*$",
    re.M | re.I,
)


# Words every marker line contains; only the lines holding one are tried against the pattern.
_MARKER_WORDS = (
    "original message", "copy of the message", "returned message", "unsent message", "message header",
    "message headers", "headers of the original", "forwarded message", "undelivered message",
    "below this line", "original mail", "header of the original",
)  # fmt: skip


def _find_original_marker(text: str, lowered: str | None = None) -> int:
    """Offset of the line where a quoted original begins, -1 when there is none.

    ``lowered``: ``text[:BODY_LIMIT].lower()`` when the caller already has it."""
    if lowered is None:
        lowered = text[:BODY_LIMIT].lower()
    if text.isascii():
        return _first_marker_line(text, lowered)
    return _marker_by_words(text, lowered)


def _marker_by_words(text: str, lowered: str) -> int:
    """The line start of the first line that holds a marker word and matches the pattern."""
    best = -1
    for word in _MARKER_WORDS:
        at = lowered.find(word)
        while at >= 0 and (best < 0 or at < best):
            start = lowered.rfind("\n", 0, at) + 1
            end = lowered.find("\n", at)
            line = text[start : end if end >= 0 else len(lowered)]
            if _ORIGINAL_MARKERS.match(line):
                best = start
                break
            at = lowered.find(word, at + len(word))
    return best


# The last word of each marker phrase and of each of their endings (see _ORIGINAL_MARKERS).
_MARKER_ENDINGS = ("message", "header", "headers", "follow", "follows", "following", "below", "details", "received")


def _first_marker_line(text: str, lowered: str) -> int:
    """``_find_original_marker`` for ASCII text, where lower-casing moves no offset and each
    line the case-blind pattern matches holds "message" or "original" (see its words): the
    first such line (in the text's order) that matches. Two searches through the text
    instead of one for each of the twelve marker words."""
    size = len(lowered)
    message, original = lowered.find("message"), lowered.find("original")
    message, original = message if message >= 0 else size, original if original >= 0 else size
    while True:
        at = min(message, original)
        if at >= size:
            return -1
        start = lowered.rfind("\n", 0, at) + 1
        end = lowered.find("\n", at)
        if end < 0:
            end = size
        # every marker line ends in one of these words before its trailing punctuation: most
        # lines fail this cheap test, not the pattern ("The original message was received at
        # ..." costs it microseconds of backtracking)
        if lowered[start:end].rstrip(" \t.:=*-").endswith(_MARKER_ENDINGS) and _ORIGINAL_MARKERS.match(text[start:end]):
            return start
        # on to the next line holding one of them
        if message < end:
            message = lowered.find("message", end)
            message = message if message >= 0 else size
        if original < end:
            original = lowered.find("original", end)
            original = original if original >= 0 else size


_RECIPIENT_LINE = CaseBlind(r"^(?:Final|Original)-Recipient:", re.M)

AUTOREPLY_SUBJECT = re.compile(
    r"^(?:auto(?:matic)?[ -]?(?:reply|response|antwort|respuesta|risposta)|auto:|autoreply|"
    r"out of (?:the )?office|ooo\b|away\b|vacation|on vacation|abwesenheit|absence|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|i am away|i'm away|"
    r"fuera de la oficina|fuera de oficina|ausencia|ausente|vacaciones|absent|abwesend|assente|"
    r"afwezig|自動応答|自动回复)",
    re.I,
)


# A person's reply: "Re:" and its equivalents in other languages' clients (AW, SV, Antw,
# Odp, R, RIF, RES), after a list's [tag] if any.
_REPLY_SUBJECT = re.compile(r"\s*(?:\[[^\]]{0,40}\]\s*)?(?:re|aw|sv|antw|odp|r|rif|res)\s*(?:\[\d+\])?\s*:", re.I)
_QUOTED_LINE = re.compile(r"^>.*\n?", re.M)

_T = TypeVar("_T")


class cached_property(Generic[_T]):
    """``functools.cached_property`` without its lock.

    Python 3.11's takes one class-wide lock on every first access, which costs more than
    many of the values computed here; a report is read by one thread only.
    """

    __slots__ = ("func", "name")

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        # the attribute's name, not func.__name__: a compiled function has none
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> cached_property[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> _T: ...
    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> _T | cached_property[_T]:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.name] = value  # later reads find it there, not here
        return value


# A plain Python class in the compiled build too: compiled (native) classes keep no
# per-instance __dict__, which cached_property stores its values in.
@mypyc_attr(native_class=False)
class Report:
    """One report under analysis: its headers and its own text, read lazily and bounded."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self._header_values: dict[str, str] = {}  # header(name) by name: decoders ask for From several times
        # a decoder's answers about this report that both its matches() and decode() need, by decoder
        self.memo: dict[str, str] = {}

    @cached_property
    def parts(self) -> list[tuple[Message, int, str]]:
        """(part, depth, content type) of every part outside returned originals."""
        return mime.parts(self.msg)

    @cached_property
    def raw_headers(self) -> dict[str, str]:
        """The report's own header fields by lower-cased name, first occurrence; one pass
        over the fields instead of one per lookup (Message.get scans them all each time)."""
        # built from the last field to the first, so that the first occurrence is what stays
        return {name.lower(): str(value) for name, value in reversed(self.msg._headers)}  # type: ignore[attr-defined]

    def has_header(self, name: str) -> bool:
        return name.lower() in self.raw_headers

    def header(self, name: str) -> str:
        """A header's value as text (RFC 2047 words decoded, whitespace squeezed), '' if absent."""
        value = self._header_values.get(name)
        if value is None:
            raw = self.raw_headers.get(name.lower())
            # a header longer than this is junk for every use here, and patterns run over it
            value = "" if raw is None else mime.decode_header_value(raw[:HEADER_LIMIT])
            self._header_values[name] = value
        return value

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
        rp = self.raw_headers.get("return-path")
        return rp is not None and str(rp).strip() in ("<>", "")

    @cached_property
    def content_types(self) -> list[str]:
        return [ctype for _, _, ctype in self.parts]

    def parts_of(self, *ctypes: str) -> list[Message]:
        return [p for p, _, ctype in self.parts if ctype in ctypes]

    @cached_property
    def has_delivery_status(self) -> bool:
        return "message/delivery-status" in self.content_types or "message/global-delivery-status" in self.content_types

    @cached_property
    def text(self) -> str:
        """The report's own human-readable text: its text/plain parts (else its HTML as text),
        outside any attached original, capped at BODY_LIMIT characters."""
        chunks: list[str] = []
        size = 0
        html: list[str] = []
        for part, _depth, ctype in self.parts:
            if isinstance(part._payload, list):  # type: ignore[attr-defined]  # is_multipart(), without the call
                continue
            if ctype.startswith("text/plain") or ctype.startswith("multipart/"):
                # a multipart whose boundary was lost to a broken header is text after all
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
        text = "\n".join(chunks)[:BODY_LIMIT]
        if self.is_persons_reply:
            # what a person's reply quotes ("> " lines) is the conversation, not evidence: a
            # reply that quotes a bounce must not be taken for that bounce
            return _QUOTED_LINE.sub("", text)
        return text

    @cached_property
    def says_report(self) -> bool:
        """Whether the report's own headers say a machine sent it: a null return path,
        X-Failed-Recipients, an Auto-Submitted other than "no", a multipart/report type."""
        if self.return_path_null or self.has_header("x-failed-recipients"):
            return True
        if self.raw_headers.get("auto-submitted", "no").strip().lower() != "no":
            return True
        return "multipart/report" in self.raw_headers.get("content-type", "").lower()

    @cached_property
    def is_persons_reply(self) -> bool:
        """A reply by its subject ("Re: ...") whose own headers say nothing of a report."""
        return _REPLY_SUBJECT.match(self.subject) is not None and not self.says_report

    @cached_property
    def text_lower(self) -> str:
        """The report's text, lower-cased: for the cheap substring tests of evidence."""
        return self.text.lower()

    @cached_property
    def text_before_original(self) -> str:
        """The report's text up to the marker where a quoted original begins."""
        text = self.text  # at most BODY_LIMIT long: text_lower is the lowered text to search
        cut = _find_original_marker(text, self.text_lower)
        return text[:cut] if cut >= 0 else text

    @cached_property
    def delivery_status_text(self) -> str:
        parts = self.parts_of("message/delivery-status", "message/global-delivery-status")
        out: list[str] = []
        for part in parts[:3]:
            payload = part.get_payload()
            if isinstance(payload, list):
                for block in payload[:200]:
                    if isinstance(block, Message):
                        # raw values: folded lines stay folded, parse_fields joins them
                        # raw_items() is a generator over a copy of this same list
                        out.append("\n".join([f"{k}: {v}" for k, v in block._headers]))  # type: ignore[union-attr]
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
    def _delivery_status_fields(self) -> tuple[list[dict[str, str]], bool]:
        parts = self.parts_of("message/delivery-status", "message/global-delivery-status")
        found = fields_of_parsed_blocks(parts)
        if found is not None:
            return found
        text = self.delivery_status_text  # an unusual block: write the text and read it
        return parse_fields(text), _RECIPIENT_LINE.search(text)

    @property
    def delivery_status_fields(self) -> list[dict[str, str]]:
        """``parse_fields(self.delivery_status_text)``, read from the parsed blocks."""
        return self._delivery_status_fields[0]

    @property
    def delivery_status_names_recipient(self) -> bool:
        """Whether ``delivery_status_text`` has a Final-Recipient: or Original-Recipient: line."""
        return self._delivery_status_fields[1]

    @cached_property
    def original_headers_text(self) -> str:
        """Headers of the returned original, when the report carries it as a part."""
        for part, _, ctype in self.parts:
            if ctype == "text/rfc822-headers":
                return mime.part_text(part, 16 * 1024)
            if ctype in ("message/rfc822", "message/global"):
                payload = part.get_payload()
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    return "\n".join(f"{k}: {v}" for k, v in fastparse.untyped(payload[0]).items())
                return mime.part_text(part, 16 * 1024).split("\n\n", 1)[0]
        return ""
