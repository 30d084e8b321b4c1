"""Find the copy of the original mail that a report (bounce, delay, complaint, auto-reply) returns.

Mail systems return the original in many ways; in order of trust:

1. a ``message/rfc822`` part (also ``message/global``, ``message/rfc822-headers``), sometimes
   wrongly given a base64 or quoted-printable transfer encoding;
2. a ``text/rfc822-headers`` part (headers only: Gmail, Postfix, many others);
3. an attached file (``details.txt``, ``original.eml``, ``application/octet-stream``) whose content
   is a message;
4. a copy quoted inline in the report's text after a marker line (qmail "--- Below this line is a
   copy of the message.", Exim "------ This is a copy of the message, including all the
   headers. ------", Sendmail "----- Unsent message follows -----", Office 365 "Original message
   headers:", ...).

Inline copies are recognised by what they are, not by the wording of the marker, which varies
with every mail system and language: a block of RFC 5322 header lines that includes at least one
header only a real message carries (``Received``, ``Message-ID``, ``Return-Path``, ...). A
person's quote ("> ..." lines, or an Outlook/Thunderbird "From:/Sent:/To:/Subject:" block) has
none of those, so it is never taken for a returned original.

Every step is bounded (parts visited, bytes decoded) so a hostile message costs little.
"""

from __future__ import annotations

import binascii
import codecs
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Literal

Wrapper = Literal["message/rfc822", "text/rfc822-headers", "attachment", "inline"]

MAX_PARTS = 200  # parts of one report (or original) we look at
MAX_ORIGINALS = 12  # originals we hand out per report
TEXT_LIMIT = 2 * 1024 * 1024  # bytes of one text part decoded and scanned
ORIGINAL_LIMIT = 8 * 1024 * 1024  # bytes of an attached or encoded original we parse
SNIFF_LIMIT = 16 * 1024  # bytes of an attachment decoded to decide whether it is a message

# Report parts that are the report's own data, never a copy of the original. (message/partial
# is not among them: some mail systems label the returned original so.)
_REPORT_DATA = frozenset(
    {
        "delivery-status",
        "global-delivery-status",
        "disposition-notification",
        "global-disposition-notification",
        "feedback-report",
        "external-body",
    }
)
_HEADER_PARTS = frozenset({"text/rfc822-headers", "text/rfc822-header", "text/global-headers"})
# Non-text attachments that may hold a message file; images, audio, archives never do.
_FILE_TYPES = frozenset(
    {"application/octet-stream", "application/x-eml", "application/eml", "application/email", "application/mbox"}
)

# Headers that only a real message's header block carries (a person's quote or a report's own
# prose does not): one of them makes a block of header lines a copy of a message.
_EVIDENCE = re.compile(
    rb"^(?:received|message-id|return-path|x-camptrackid|list-unsubscribe|dkim-signature|mime-version"
    rb"|x-mailer|authentication-results|delivered-to|x-originating-ip|content-transfer-encoding)[ \t]*:",
    re.MULTILINE | re.IGNORECASE,
)
# A header line: a field name and a colon ("Received:from x" is seen too), but not a URL.
_EVIDENCE_NAMES = frozenset(
    {"received", "message-id", "return-path", "x-camptrackid", "list-unsubscribe", "dkim-signature"}
)
_HEADER_LINE = re.compile(rb"[!-9;-~]+:(?!//)")
_MAX_BLOCK_LINES = 2000

_MAYBE_WIDE = re.compile(r"utf-?(?:16|32|7)|ucs|ebcdic|ibm|cp\d", re.IGNORECASE)
# An inline copy needs its body parsed only when a link or an encoding could hide in it.
_NEEDS_BODY = re.compile(rb"dentifier|=\r?\n|=3[dD]|base64", re.IGNORECASE)

_HEADER_PARSER = BytesParser(policy=compat32)

_HTML_BREAK = re.compile(rb"<\s*(?:br|/p|/div|/tr|/pre|/li|/h[1-6])\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(rb"<[^>]*>")

# Charsets in which ASCII text is not ASCII bytes: decode them before any byte search.
_ASCII_INCOMPATIBLE = frozenset(
    {
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "utf-32",
        "utf-32-le",
        "utf-32-be",
        "utf-7",
        "cp037",
        "cp273",
        "cp424",
        "cp500",
        "cp875",
        "cp1026",
        "cp1140",
    }
)


@dataclass(frozen=True, slots=True)
class ReturnedOriginal:
    """One copy of the original mail inside a report, and how the report carried it."""

    message: Message
    wrapper: Wrapper


def returned_originals(report: Message, *, inline: bool = True) -> Iterator[ReturnedOriginal]:
    """The copies of the original a report carries, most trustworthy first.

    Lazy: a caller that finds what it needs in the first copy pays nothing for the rest.
    ``inline=False`` skips copies quoted in the text (used inside an original, where the text
    is the original's own and only attached messages count).
    """
    attachments: list[tuple[Message, str]] = []
    texts: list[tuple[Message, str]] = []
    htmls: list[tuple[Message, str]] = []
    handed_out = 0
    for part, ctype in _parts(report):
        maintype, _, subtype = ctype.partition("/")
        original: Message | None = None
        wrapper: Wrapper = "message/rfc822"
        if part is not report and _is_headerless_copy(part):
            # The original written straight after the boundary, without MIME headers of its
            # own: the parser took the original's headers for the part's.
            original = part
            wrapper = "attachment"
        elif maintype == "multipart":
            texts.append((part, ctype))  # a multipart body without its boundaries: read it as text
        elif maintype == "message":
            if subtype not in _REPORT_DATA:
                original = _inner_message(part)
        elif ctype in _HEADER_PARTS:
            original = _parse(decoded_body(part, ORIGINAL_LIMIT), headers_only=True)
            wrapper = "text/rfc822-headers"
        elif (maintype == "text" or ctype in _FILE_TYPES) and _is_attachment(part):
            attachments.append((part, ctype))
        elif ctype == "text/plain":
            texts.append((part, ctype))
        elif ctype == "text/html":
            htmls.append((part, ctype))
        elif ctype in _FILE_TYPES:
            attachments.append((part, ctype))
        if original is not None:
            yield ReturnedOriginal(original, wrapper)
            handed_out += 1
            if handed_out >= MAX_ORIGINALS:
                return
    for part, ctype in attachments:
        original = _attached_message(part)
        if original is not None:
            yield ReturnedOriginal(original, "attachment")
            handed_out += 1
            if handed_out >= MAX_ORIGINALS:
                return
        elif ctype.startswith("text/"):
            texts.append((part, ctype))  # a text file that is not a message may still quote one
    if not inline:
        return
    for part, ctype in texts + htmls:
        data = text_bytes(part, TEXT_LIMIT)
        if ctype == "text/html":
            data = html_to_text(data)
        start = find_header_block(data)
        if start is not None:
            copy = data[start:]
            yield ReturnedOriginal(_parse(copy, headers_only=_NEEDS_BODY.search(copy) is None), "inline")
            handed_out += 1
            if handed_out >= MAX_ORIGINALS:
                return


def original_parts(original: Message) -> Iterator[Message]:
    """The original's own text parts (not those of messages attached to it), bounded."""
    for part, ctype in _parts(original):
        if ctype.startswith("text/") and ctype not in _HEADER_PARTS:
            yield part


def text_bytes(part: Message, limit: int = TEXT_LIMIT) -> bytes:
    """A text part's decoded body, in bytes where ASCII text reads as ASCII (any charset)."""
    return _searchable(part, decoded_body(part, limit))


def decoded_body(part: Message, limit: int) -> bytes:
    """A leaf part's body with its transfer encoding undone, at most about ``limit`` bytes.

    Done by hand rather than with ``get_payload(decode=True)`` so that a 20 MB part costs
    only the prefix we read, and a broken encoding yields what can be read instead of nothing.
    """
    payload = part.get_payload()
    if not isinstance(payload, str):
        return b""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        return _b64_decode(payload[: limit // 3 * 4 + limit // 38 + 4])
    raw = _to_bytes(payload[:limit])
    if cte == "quoted-printable":
        return _qp_decode(raw)
    return raw


def html_to_text(data: bytes) -> bytes:
    """Text of an HTML body: line breaks kept, tags dropped, entities resolved."""
    text = _HTML_TAG.sub(b"", _HTML_BREAK.sub(b"\n", data))
    return html.unescape(text.decode("latin-1")).encode("utf-8", "replace")


def find_header_block(data: bytes) -> int | None:
    """Offset of the first block of header lines that is a copy of a message, if any.

    The block must have at least two header lines, one of them an evidence header; the block
    starts at its first header line (continuation lines above it belong to something else).
    """
    pos = 0
    for _ in range(50):
        match = _EVIDENCE.search(data, pos)
        if match is None:
            return None
        start = _block_start(data, match.start())
        count, end = _count_header_lines(data, start)
        if count >= 2:
            return start
        pos = max(end, match.end())
    return None


def message_id(original: Message) -> str | None:
    """The original's Message-ID, unfolded."""
    value = original.get("Message-ID")
    if value is None:
        return None
    text = " ".join(str(value).split())
    angle = re.search(r"<[^<>\s]+>", text)
    if angle:
        return angle.group(0)
    return text or None


def _parts(msg: Message) -> Iterator[tuple[Message, str]]:
    """(part, content type) of leaf and message/* parts in document order, bounded.

    Does not descend into message/* parts (what they carry is another message), nor into a
    multipart that is an original written without MIME headers of its own.
    """
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        ctype = part.get_content_type()
        if ctype.startswith("multipart/") and not (depth and _is_headerless_copy(part)):
            payload = part.get_payload()
            if isinstance(payload, list):
                if depth < 16:
                    stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
                continue
        yield part, ctype  # a leaf, a message/* part, or a multipart the parser could not split


def _inner_message(part: Message) -> Message | None:
    """The message a message/* part carries, undoing a transfer encoding it should not have."""
    payload = part.get_payload()
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if isinstance(payload, list):
        inner = next((p for p in payload if isinstance(p, Message)), None)
        if inner is None:
            return None
        if cte == "base64" and not inner.keys():
            # The parser read base64 text as a header-less message: its body is the encoding.
            body = inner.get_payload()
            if isinstance(body, str):
                return _parse(_b64_decode(body[: ORIGINAL_LIMIT // 3 * 4 + ORIGINAL_LIMIT // 38]))
        if cte == "quoted-printable":
            serialised = _serialise(inner)
            if serialised is not None and b"=" in serialised:
                return _parse(_qp_decode(serialised))
        return inner
    if isinstance(payload, str):
        return _parse(decoded_body(part, ORIGINAL_LIMIT))
    return None


def _attached_message(part: Message) -> Message | None:
    """The message in an attached file, if the file is one (it starts with a header block)."""
    head = _searchable(part, decoded_body(part, SNIFF_LIMIT)).lstrip(b"\r\n")
    if not _HEADER_LINE.match(head):
        return None
    if find_header_block(head) != 0:
        return None
    return _parse(_searchable(part, decoded_body(part, ORIGINAL_LIMIT)).lstrip(b"\r\n"))


def _is_headerless_copy(part: Message) -> bool:
    # A MIME part's own headers are Content-* ones; trace and identity headers mean the part's
    # headers are the original's.
    return any(name.lower() in _EVIDENCE_NAMES for name in part)


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("content-disposition", "")).strip().lower()
    if disposition.startswith("attachment"):
        return True
    # get_filename() parses parameters; look for a name at all first, it is rarely there.
    if "name" not in disposition and "name" not in str(part.get("content-type", "")).lower():
        return False
    return part.get_filename() is not None


def _searchable(part: Message, data: bytes) -> bytes:
    """``data`` re-encoded as UTF-8 when its charset does not write ASCII as ASCII bytes."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a UTF-16 byte order mark, whatever the label
        return data.decode("utf-16", "replace").encode("utf-8", "replace")
    if not _MAYBE_WIDE.search(str(part.get("content-type", ""))):
        return data  # the common case, decided without parsing parameters
    charset = part.get_param("charset")
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    if not charset:
        return data
    try:
        name = codecs.lookup(str(charset).strip().strip('"')).name
    except LookupError:
        return data
    if name not in _ASCII_INCOMPATIBLE:
        return data
    return data.decode(name, "replace").encode("utf-8", "replace")


def _block_start(data: bytes, line_start: int) -> int:
    """Walk up from a header line over the header and continuation lines above it."""
    first = line_start
    cursor = line_start
    for _ in range(_MAX_BLOCK_LINES):
        if cursor <= 0:
            break
        previous_start = data.rfind(b"\n", 0, cursor - 1) + 1
        previous = data[previous_start : cursor - 1].rstrip(b"\r")
        if not previous.strip():
            break
        if _HEADER_LINE.match(previous):
            first = previous_start
        elif previous[:1] not in (b" ", b"\t"):
            break
        cursor = previous_start
    return first


def _count_header_lines(data: bytes, start: int) -> tuple[int, int]:
    """How many header lines a block starting at ``start`` has, and where it ends."""
    count = 0
    cursor = start
    for _ in range(_MAX_BLOCK_LINES):
        end = data.find(b"\n", cursor)
        line = data[cursor : len(data) if end < 0 else end].rstrip(b"\r")
        if _HEADER_LINE.match(line):
            count += 1
        elif not (line[:1] in (b" ", b"\t") and line.strip()):
            break
        if end < 0:
            return count, len(data)
        cursor = end + 1
    return count, cursor


def _parse(data: bytes, *, headers_only: bool = False) -> Message:
    if headers_only:  # the body stays one string: no MIME parsing cost
        return _HEADER_PARSER.parsebytes(data, headersonly=True)
    return message_from_bytes(data, policy=compat32)


def _serialise(msg: Message) -> bytes | None:
    try:
        return msg.as_bytes()
    except Exception:  # a tree the generator cannot write back: treat it as it is
        return None


def _to_bytes(text: str) -> bytes:
    # compat32 keeps undecodable bytes as surrogate escapes; this gives the original bytes back.
    try:
        return text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _b64_decode(text: str) -> bytes:
    try:  # the fast path: a2b_base64 skips line breaks and other non-alphabet characters itself
        return binascii.a2b_base64(text)
    except (binascii.Error, ValueError):
        pass
    # Cut short (we read a prefix) or broken: keep whole 4-character groups of the alphabet.
    data = re.sub(r"[^A-Za-z0-9+/]", "", text)
    data = data[: len(data) - len(data) % 4]
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        return b""


def _qp_decode(data: bytes) -> bytes:
    try:
        return binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        return data
