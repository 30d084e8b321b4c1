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
from email.message import Message
from typing import Literal, NamedTuple

from bouncer.analysis import fastparse
from bouncer.analysis.mime import qp_decode

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

# The same, case-sensitive, for a search of b"\n" + data.lower(): a pattern that starts with a
# literal is searched at C speed, where the case-blind, line-anchored one tries every byte;
# as a prefix tree, so that a line is rejected after a few byte tests. A match's start is the
# offset in ``data`` of the line it found.
_EVIDENCE_AFTER_LF = re.compile(
    rb"\n(?:r(?:eceived|eturn-path)|m(?:essage-id|ime-version)|x-(?:camptrackid|mailer|originating-ip)"
    rb"|list-unsubscribe|d(?:kim-signature|elivered-to)|authentication-results|content-transfer-encoding)[ \t]*:"
)
# A header line: a field name and a colon ("Received:from x" is seen too), but not a URL.
_EVIDENCE_NAMES = frozenset(
    {"received", "message-id", "return-path", "x-camptrackid", "list-unsubscribe", "dkim-signature"}
)
# The headers a part is judged by: its MIME headers, and those that make it an original.
_PART_HEADERS = _EVIDENCE_NAMES | {"content-type", "content-transfer-encoding", "content-disposition"}
# The headers read in an original: those, and the ones that make it a report.
_ORIGINAL_HEADERS = _PART_HEADERS | {"x-failed-recipients", "auto-submitted"}
_HEADER_LINE = re.compile(rb"[!-9;-~]+:(?!//)")
_MAX_BLOCK_LINES = 2000

_MAYBE_WIDE = re.compile(r"utf-?(?:16|32|7)|ucs|ebcdic|ibm|cp\d", re.IGNORECASE)
_MAYBE_WIDE_LOWER = re.compile(_MAYBE_WIDE.pattern)  # for lower-cased ASCII text
# _MAYBE_WIDE's alternatives that are no plain strings, for lower-cased bytes: one pattern each,
# so that each starts with a literal (searched at C speed; the alternation tries every byte).
_WIDE_UTF_LOWER_BYTES = re.compile(rb"utf-?(?:16|32|7)")
_CODE_PAGE_LOWER_BYTES = re.compile(rb"cp\d")
# Transfer encodings that can hide a link from a plain byte search: a line
# "Content-Transfer-Encoding: quoted-printable" or "...: base64", as a search of
# b"\n" + data.lower() finds it (see _EVIDENCE_AFTER_LF); group 1 is the encoding.
_HIDING_CTE_AFTER_LF = re.compile(rb"\ncontent-transfer-encoding:[ \t]*(quoted-printable|base64)")
_B64_RUN = re.compile(rb"(?:^[A-Za-z0-9+/=]{16,}\r?\n){2,}", re.MULTILINE)

_ANGLE_ADDR = re.compile(r"<[^<>\s]+>")

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


class _Part(NamedTuple):
    message: Message
    ctype: str  # lower-case content type, as compat32 reads it
    headers: dict[str, str]  # lower-case name -> first value


class PartWalks:
    """The parts and headers of each message read during one lookup, so that none is read twice.

    (An original is walked for its links, then again for messages attached to it; its header
    block is read once for everything the lookup asks of it.)
    """

    __slots__ = ("_heads", "_walked", "only_keys_matter")

    def __init__(self) -> None:
        self._walked: dict[int, tuple[Message, list[_Part]]] = {}
        self._heads: dict[int, tuple[Message, dict[str, list[str]], dict[str, str]]] = {}
        # Set by a lookup that already has the original's Message-ID and reads no deployment
        # patterns: from then on a copy that cannot hold a key changes nothing it reports, so
        # an inline copy is parsed only if it may hold one (see _may_hold_key).
        self.only_keys_matter = False

    def parts(self, msg: Message) -> list[_Part]:
        entry = self._walked.get(id(msg))
        if entry is not None and entry[0] is msg:
            return entry[1]
        heads = self._heads.get(id(msg))
        root = heads[2] if heads is not None and heads[0] is msg else None
        parts = _parts(msg, root)
        self._walked[id(msg)] = (msg, parts)
        return parts

    def heads(self, msg: Message) -> dict[str, list[str]]:
        """:func:`original_headers` of ``msg``, read once."""
        entry = self._heads.get(id(msg))
        if entry is not None and entry[0] is msg:
            return entry[1]
        part_headers: dict[str, str] = {}
        heads = original_headers(msg, part_headers)
        self._heads[id(msg)] = (msg, heads, part_headers)
        return heads


def returned_copies(report: Message, inline: bool, walks: PartWalks) -> Iterator[tuple[Message, Wrapper]]:
    """The copies of the original a report carries, most trustworthy first, each with how the
    report carried it.

    Lazy: a caller that finds what it needs in the first copy pays nothing for the rest.
    ``inline=False`` skips copies quoted in the text (used inside an original, where the text
    is the original's own and only attached messages count).
    """
    attachments: list[_Part] = []
    texts: list[_Part] = []
    htmls: list[_Part] = []
    handed_out = 0
    for found in walks.parts(report):
        part, ctype, headers = found
        original: Message | None = None
        wrapper: Wrapper = "message/rfc822"
        if part is not report and not _EVIDENCE_NAMES.isdisjoint(headers):
            # The original written straight after the boundary, without MIME headers of its
            # own: the parser took the original's headers for the part's. (A MIME part's own
            # headers are Content-* ones; trace and identity headers are the original's.)
            original = part
            wrapper = "attachment"
        elif ctype.startswith("multipart/"):
            texts.append(found)  # a multipart body without its boundaries: read it as text
        elif ctype.startswith("message/"):
            if ctype[8:] not in _REPORT_DATA:
                original = _inner_message(found)
        elif ctype in _HEADER_PARTS:
            original = _headers_message(_decoded(found, ORIGINAL_LIMIT))
            wrapper = "text/rfc822-headers"
        elif (ctype.startswith("text/") or ctype in _FILE_TYPES) and _is_attachment(found):
            attachments.append(found)
        elif ctype == "text/plain":
            texts.append(found)
        elif ctype == "text/html":
            htmls.append(found)
        elif ctype in _FILE_TYPES:
            attachments.append(found)
        if original is not None:
            yield original, wrapper
            handed_out += 1
            if handed_out >= MAX_ORIGINALS:
                return
    for found in attachments:
        original = _attached_message(found)
        if original is not None:
            yield original, "attachment"
            handed_out += 1
            if handed_out >= MAX_ORIGINALS:
                return
        elif found.ctype.startswith("text/"):
            texts.append(found)  # a text file that is not a message may still quote one
    if not inline:
        return
    for found in texts + htmls:
        data = _searchable(found, _decoded(found, TEXT_LIMIT))
        if found.ctype == "text/html":
            data = html_to_text(data)
        lowered = b"\n" + data.lower()  # offsets in it are those of data, plus one
        start = _header_block_start(data, lowered)
        if start is not None:
            if walks.only_keys_matter and not _may_hold_key(lowered, start):
                # Neither this copy nor one nested in it can hold a key: nothing to parse.
                # (It still counts towards MAX_ORIGINALS, as it would have.)
                handed_out += 1
                if handed_out >= MAX_ORIGINALS:
                    return
                continue
            copy = data[start:]
            # Headers are all we need unless a link could hide in the body. (lowered[start:]
            # is b"\n" + copy.lower(): the block starts at a line.)
            parsed = _parse(copy) if _body_may_hold_link(copy, lowered, start) else _headers_message(copy)
            yield parsed, "inline"
            handed_out += 1
            if handed_out >= MAX_ORIGINALS:
                return


def may_return_copies(msg: Message, inline: bool, walks: PartWalks) -> bool:
    """False when :func:`returned_copies` (``msg``, ``inline``) surely finds nothing: ``msg``
    is a single text (or unsplit multipart) part that is not a headers part nor an attached
    file, and, if ``inline``, its body is empty. (The usual returned original: a lookup asks
    this of every original before walking it for messages attached to it.)
    """
    parts = walks.parts(msg)
    if len(parts) != 1:
        return True
    found = parts[0]
    part, ctype, _ = found
    if part is not msg:  # (a lone part of a multipart may be an original written bare)
        return True
    # returned_copies hands out a message/* part, a headers part, a file, or an attachment.
    if not ctype.startswith("multipart/") and (
        not ctype.startswith("text/") or ctype in _HEADER_PARTS or _is_attachment(found)
    ):
        return True
    if not inline:
        return False  # the text itself is read only when inline
    # An empty text (or none) decodes to b"", in which no header block is found.
    payload = getattr(part, "_payload", None)
    return isinstance(payload, str) and payload != ""


def _decoded(found: _Part, limit: int) -> bytes:
    """Done by hand rather than with ``get_payload(decode=True)``: a 20 MB part costs only the
    prefix we read, and a broken encoding yields what can be read instead of nothing."""
    payload = getattr(found.message, "_payload", None)  # _payload_of()
    if not isinstance(payload, str):
        return b""
    cte = found.headers.get("content-transfer-encoding")
    if cte is not None:
        cte = cte.strip().lower()
        if cte == "base64":
            return _b64_decode(payload[: limit // 3 * 4 + limit // 38 + 4])
        if cte == "quoted-printable":
            return qp_decode(_to_bytes(payload[:limit]))
    try:  # _to_bytes(), inline: this is the usual way out
        return payload[:limit].encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return payload[:limit].encode("utf-8", "surrogateescape")


def html_to_text(data: bytes) -> bytes:
    """Text of an HTML body: line breaks kept, tags dropped, entities resolved."""
    text = _HTML_TAG.sub(b"", _HTML_BREAK.sub(b"\n", data))
    return html.unescape(text.decode("latin-1")).encode("utf-8", "replace")


def find_header_block(data: bytes) -> int | None:
    """Offset of the first block of header lines that is a copy of a message, if any.

    The block must have at least two header lines, one of them an evidence header; the block
    starts at its first header line (continuation lines above it belong to something else).
    """
    return _header_block_start(data, b"\n" + data.lower())


def _header_block_start(data: bytes, lowered: bytes) -> int | None:
    """:func:`find_header_block`, given ``lowered`` = ``b"\n" + data.lower()``."""
    pos = 0
    for _ in range(50):
        match = _EVIDENCE_AFTER_LF.search(lowered, pos)  # _EVIDENCE.search(data, pos)
        if match is None:
            return None
        start = _block_start(data, match.start())
        count, end = _count_header_lines(data, start, enough=2)
        if count >= 2:
            return start
        pos = max(end, match.end() - 1)
    return None


def message_id(original: Message, heads: dict[str, list[str]] | None = None) -> str | None:
    """The original's Message-ID, unfolded. ``heads``: its :func:`original_headers`, if read."""
    if heads is None:
        value: object = fastparse.header(original, "message-id")  # original.get("Message-ID"), faster
    else:
        values = heads.get("message-id")
        value = values[0] if values else None
        if value is not None and not (isinstance(value, str) and value.isascii()):
            value = fastparse.header(original, "message-id")  # compat32 hands it out as a Header
    if value is None:
        return None
    text = " ".join(str(value).split())
    angle = _ANGLE_ADDR.search(text)
    if angle:
        return angle.group(0)
    return text or None


def original_texts(original: Message, walks: PartWalks, most: int) -> list[bytes]:
    """The original's own text parts (not those of messages attached to it), decoded, bounded:
    bytes in which ASCII text reads as ASCII, whatever the part's charset; at most ``most``."""
    texts: list[bytes] = []
    for found in walks.parts(original):
        # An unsplit multipart is a copy whose body we did not parse: its text is all there is.
        ctype = found.ctype
        if ctype.startswith(("text/", "multipart/")) and ctype not in _HEADER_PARTS:
            texts.append(_searchable(found, _decoded(found, TEXT_LIMIT)))
            if len(texts) >= most:
                break
    return texts


def _parts(msg: Message, root_headers: dict[str, str] | None = None) -> list[_Part]:
    """Leaf and message/* parts in document order, bounded, each with its headers read once.

    Does not descend into message/* parts (what they carry is another message), nor into a
    multipart that is an original written without MIME headers of its own. ``root_headers``:
    ``msg``'s own, when already read.
    """
    found: list[_Part] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    if root_headers is None:
        # A multipart root is only descended into: its Content-Type is all that is read of
        # it, and the parser remembered that (a report's root has dozens of header fields).
        value = fastparse.content_type_field(msg)
        payload = getattr(msg, "_payload", None)
        if type(value) is str and value.isascii() and isinstance(payload, list):  # (else as below)
            ctype = value.partition(";")[0].strip().lower()
            if ctype.startswith("multipart/") and ctype.count("/") == 1:
                stack = [(p, 1) for p in reversed(payload) if isinstance(p, Message)]
                seen = 1
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        headers = root_headers if root_headers is not None and part is msg else _header_map(part)
        ctype = headers.get("content-type", "").partition(";")[0].strip().lower()  # _content_type()
        if ctype.count("/") != 1:
            ctype = "text/plain"
        elif ctype.startswith("multipart/") and not (depth and not _EVIDENCE_NAMES.isdisjoint(headers)):
            payload = getattr(part, "_payload", None)
            if isinstance(payload, list):
                if depth < 16:
                    stack.extend([(p, depth + 1) for p in reversed(payload) if isinstance(p, Message)])
                continue
        # A leaf, a message/* part, or an unsplittable multipart. (tuple.__new__ is what _Part()
        # runs, without the Python-level __new__ around it.)
        found.append(tuple.__new__(_Part, (part, ctype, headers)))
    return found


def original_headers(msg: Message, part_headers: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The values (as stored) of every header the lookup reads in an original, by lower-case
    name, in one pass: its MIME and evidence headers, the key headers, and those that make it
    a report. Fills ``part_headers`` with :func:`_header_map` of ``msg`` on the way."""
    found: dict[str, list[str]] = {}
    keys = _ORIGINAL_KEYS
    known = keys.get
    # The parser's own list; items() would run every value through the policy first.
    stored = getattr(msg, "_headers", None)
    for name, value in stored if isinstance(stored, list) else msg.items():
        key = known(name)
        if key is None:
            key = _name_key(name, keys, _ORIGINAL_HEADERS)
        if key:
            if key in found:
                found[key].append(value)
            else:
                found[key] = [value]
                if part_headers is not None and key in _PART_HEADERS:
                    part_headers[key] = str(value)
    return found


# Header names seen -> their lower-case name if it is one a scan reads, else "": the same few
# dozen names recur in every message, and a dict lookup costs about half of lower-casing the
# name again. Bounded, so that messages with thousands of invented names cannot grow them
# without end.
_PART_KEYS: dict[str, str] = {}  # for _header_map
_ORIGINAL_KEYS: dict[str, str] = {}  # for original_headers
_KEYS_MAX = 2048


def _name_key(name: str, keys: dict[str, str], wanted: frozenset[str]) -> str:
    key = str(name).lower()
    if key not in wanted:
        key = ""
    if len(keys) < _KEYS_MAX and type(name) is str:
        keys[name] = key
    return key


def _header_map(part: Message) -> dict[str, str]:
    """Lower-case header name -> first value of the headers we read, in one pass.

    ``Message.get()`` lower-cases and compares every header on every call; reading a part's
    few headers of interest that way costs more than the rest of the lookup.
    """
    headers: dict[str, str] = {}
    keys = _PART_KEYS
    known = keys.get
    stored = getattr(part, "_headers", None)  # the parser's own list, as in original_headers
    for name, value in stored if isinstance(stored, list) else part.items():
        key = known(name)
        if key:
            if key not in headers:
                headers[key] = str(value)
        elif key is None:
            key = _name_key(name, keys, _PART_HEADERS)
            if key and key not in headers:
                headers[key] = str(value)
    return headers


def _payload_of(part: Message) -> object:
    """The payload as the parser stored it: a list of parts, or the undecoded body text.

    Not ``get_payload()``: for a text payload it re-encodes the whole body only to look for
    surrogates (a transient copy of a 20 MB attachment, and its time), and with a hostile
    charset parameter (one holding a NUL) it raises. We decode what we need ourselves.
    """
    return getattr(part, "_payload", None)


def _inner_message(found: _Part) -> Message | None:
    """The message a message/* part carries, undoing a transfer encoding it should not have."""
    payload = _payload_of(found.message)
    cte = found.headers.get("content-transfer-encoding", "").strip().lower()
    if isinstance(payload, list):
        inner = next((p for p in payload if isinstance(p, Message)), None)
        if inner is None:
            return None
        if cte == "base64" and not inner.keys():
            # The parser read base64 text as a header-less message: its body is the encoding.
            body = _payload_of(inner)
            if isinstance(body, str):
                return _parse(_b64_decode(body[: ORIGINAL_LIMIT // 3 * 4 + ORIGINAL_LIMIT // 38]))
        if cte == "quoted-printable":
            serialised = _serialise(inner)
            if serialised is not None and b"=" in serialised:
                return _parse(qp_decode(serialised))
        return inner
    if isinstance(payload, str):
        return _parse(_decoded(found, ORIGINAL_LIMIT))
    return None


def _attached_message(found: _Part) -> Message | None:
    """The message in an attached file, if the file is one (it starts with a header block)."""
    head = _searchable(found, _decoded(found, SNIFF_LIMIT)).lstrip(b"\r\n")
    if not _HEADER_LINE.match(head):
        return None
    if find_header_block(head) != 0:
        return None
    return _parse(_searchable(found, _decoded(found, ORIGINAL_LIMIT)).lstrip(b"\r\n"))


def _is_attachment(found: _Part) -> bool:
    disposition = found.headers.get("content-disposition", "").strip().lower()
    if disposition.startswith("attachment"):
        return True
    # get_filename() parses parameters; look for a name at all first, it is rarely there.
    if "name" not in disposition and "name" not in found.headers.get("content-type", "").lower():
        return False
    return found.message.get_filename() is not None


def _searchable(found: _Part, data: bytes) -> bytes:
    """``data`` re-encoded as UTF-8 when its charset does not write ASCII as ASCII bytes."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a UTF-16 byte order mark, whatever the label
        return data.decode("utf-16", "replace").encode("utf-8", "replace")
    content_type = found.headers.get("content-type", "")
    if content_type.isascii():
        # The case-blind regex costs microseconds a part: for ASCII text, case-blindness is
        # plain lower-casing. It cannot match without one of these.
        lowered = content_type.lower()
        if not ("cp" in lowered or "utf" in lowered or "ucs" in lowered or "ibm" in lowered or "ebcdic" in lowered):
            return data
        if not _MAYBE_WIDE_LOWER.search(lowered):
            return data  # the common case (UTF-8), decided without parsing parameters
    elif not _MAYBE_WIDE.search(content_type):
        return data
    try:
        charset = found.message.get_param("charset")
    except Exception:  # a parameter the stdlib cannot parse: read the bytes as they are
        return data
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    if not charset:
        return data
    try:
        name = codecs.lookup(str(charset).strip().strip('"')).name
    except (LookupError, ValueError):
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


def _count_header_lines(data: bytes, start: int, enough: int) -> tuple[int, int]:
    """How many header lines (up to ``enough``) a block starting at ``start`` has, and where
    the count stopped."""
    count = 0
    cursor = start
    for _ in range(_MAX_BLOCK_LINES):
        end = data.find(b"\n", cursor)
        line = data[cursor : len(data) if end < 0 else end].rstrip(b"\r")
        if _HEADER_LINE.match(line):
            count += 1
            if count >= enough:
                return count, cursor
        elif not (line[:1] in (b" ", b"\t") and line.strip()):
            break
        if end < 0:
            return count, len(data)
        cursor = end + 1
    return count, cursor


def _body_may_hold_link(copy: bytes, lowered: bytes, start: int) -> bool:
    """Whether an inline copy's body must be parsed to read its links (cheap byte checks).

    ``lowered[start:]`` is ``b"\n" + copy.lower()``.
    """
    if b"dentifier" in copy:
        return True
    encodings = {match.group(1) for match in _HIDING_CTE_AFTER_LF.finditer(lowered, start)}
    if not encodings:
        return False
    if b"quoted-printable" in encodings and b"dentifier" in qp_decode(copy):
        return True
    if b"base64" in encodings:
        for run in _B64_RUN.finditer(copy):
            decoded = _b64_decode(run.group(0).decode("ascii"))
            # A NUL: UTF-16 or UTF-32 text, which only a decode by charset can search.
            if b"dentifier" in decoded or b"\x00" in decoded:
                return True
    return False


def _may_hold_key(lowered: bytes, start: int) -> bool:
    """Whether an inline copy (``lowered[start:]`` = ``b"\n" + copy.lower()``), or a message
    nested in it, may yield a tracker key: a superset, by byte checks.

    A key is read from a link ("identifier=", case-sensitive, so "dentifier" is in the text),
    an X-CampTrackID header, or text only a decoding makes: a transfer encoding (a
    Content-Transfer-Encoding value that is "base64" or "quoted-printable" once stripped),
    quoted-printable left in place (read only when "=3D" is there), a charset that does not
    write ASCII as ASCII (named as _MAYBE_WIDE finds it, or UTF-16/32 text, which has NULs),
    HTML converted to text (a text/html part). Each of these leaves its trace in the copy's
    own bytes.
    """
    for trace in (b"dentifier", b"x-camptrackid", b"base64", b"quoted-printable", b"=3d", b"\x00", b"text/html"):
        if lowered.find(trace, start) >= 0:
            return True
    # What _MAYBE_WIDE finds.
    for trace in (b"ucs", b"ibm", b"ebcdic"):
        if lowered.find(trace, start) >= 0:
            return True
    return (
        _WIDE_UTF_LOWER_BYTES.search(lowered, start) is not None
        or _CODE_PAGE_LOWER_BYTES.search(lowered, start) is not None
    )


def _parse(data: bytes) -> Message:
    return fastparse.parse(data)


def _headers_message(data: bytes) -> Message:
    """A message of the header block at the start of ``data``; the rest stays one text body.

    Close to what ``BytesParser(...).parsebytes(data, headersonly=True)`` gives, several times
    faster: for a copy whose body we need not read, the header lines are all the parsing there
    is. One difference, harmless to every reader here: folded lines are joined with CRLF
    whatever the copy's own line ends.
    """
    msg = Message()
    text = data.decode("ascii", "surrogateescape")
    if "\x0b" in text or "\x0c" in text or "\x1c" in text or "\x1d" in text or "\x1e" in text:
        headers, position = _header_lines_by_hand(text)
    else:
        # Lines end at \n, \r or \r\n only: split without the line ends, which the loop
        # would strip, and find the blank line that ends the block at C speed.
        lines = text.splitlines()
        try:
            blank = lines.index("")
        except ValueError:
            blank = -1
        headers = _header_fields(lines[:blank] if blank >= 0 else lines)
        if blank < 0:
            position = len(text)
        elif "\r" not in text:
            position = sum(map(len, lines[: blank + 1])) + blank + 1  # a \n after each line
        else:
            # The lines up to the blank one, with their ends: no longer than this.
            head = text[: sum(map(len, lines[: blank + 1])) + 2 * (blank + 1)]
            position = sum(map(len, head.splitlines(keepends=True)[: blank + 1]))
    msg._headers = headers  # type: ignore[attr-defined]
    msg.set_payload(text[position:])
    return msg


def _header_fields(lines: list[str]) -> list[tuple[str, str]]:
    """What ``msg[name] = value`` appends under compat32 for each header of a block of lines
    (without their line ends); a line that is no header line is dropped, and the
    continuation lines after it."""
    headers: list[tuple[str, str]] = []
    name: str | None = None
    value = ""
    folded: list[str] | None = None  # the lines of a folded value, once it has more than one
    for line in lines:
        if line[0] in " \t":
            if name is not None:
                if folded is None:
                    folded = [value, line]
                else:
                    folded.append(line)
            # (Without a field before it, the parser drops such a line.)
            continue
        if name is not None:
            headers.append((name, value if folded is None else "\r\n".join(folded)))
        field, colon, rest = line.partition(":")
        if not colon or not field or field != field.strip():
            name = None  # not a header line: the parser would drop it too
            continue
        name, value, folded = field, rest.lstrip(" \t"), None
    if name is not None:
        headers.append((name, value if folded is None else "\r\n".join(folded)))
    return headers


def _header_lines_by_hand(text: str) -> tuple[list[tuple[str, str]], int]:
    """:func:`_header_fields` of the block at the start of ``text`` and where its body starts,
    for text with line breaks other than \n and \r (a \v ends a line, but is not stripped)."""
    lines: list[str] = []
    position = 0
    for line in text.splitlines(keepends=True):
        position += len(line)
        stripped = line.rstrip("\r\n")
        if not stripped:
            break
        lines.append(stripped)
    return _header_fields(lines), position


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
