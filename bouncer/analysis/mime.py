"""Bounded access to a compat32 message tree: walk, decode a part's text, read headers.

Every helper here caps its work (MIME depth, number of parts, bytes decoded), so that a
hostile or broken message costs at most a bounded amount of time and memory.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterator
from email.header import decode_header
from email.message import Message

from bouncer.analysis.fastparse import content_type, content_type_field
from bouncer.analysis.fastparse import header as _first_header

MAX_DEPTH = 8  # nested message/rfc822 or multipart levels we descend into
MAX_PARTS = 120  # parts visited per message
TEXT_LIMIT = 24 * 1024  # bytes of one text part we decode and scan

_CHARSET_ALIASES = {"x-unknown": "latin-1", "unknown-8bit": "latin-1", "us-ascii": "latin-1", "ascii": "latin-1"}


def walk(msg: Message, *, into_rfc822: bool = False) -> Iterator[tuple[Message, int, str]]:
    """Yield (part, depth, content type), depth-first, skipping the insides of returned
    originals unless asked."""
    yield from parts(msg, into_rfc822=into_rfc822)


_NOT_ENTERED = frozenset({"message/delivery-status", "message/global-delivery-status"})


def parts(msg: Message, *, into_rfc822: bool = False) -> list[tuple[Message, int, str]]:
    """The (part, depth, content type) ``walk`` yields, as a list."""
    found: list[tuple[Message, int, str]] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack and len(found) < MAX_PARTS:
        part, depth = stack.pop()
        ctype = content_type(part)  # get_content_type(), without its slow generic lookup
        found.append((part, depth, ctype))
        if depth >= MAX_DEPTH:
            continue
        # is_multipart() and get_payload() of a compat32 message, without two method calls
        payload = part._payload  # type: ignore[attr-defined]
        if isinstance(payload, list):
            if (ctype == "message/rfc822" and not into_rfc822) or ctype in _NOT_ENTERED:
                continue
            stack.extend([(p, depth + 1) for p in reversed(payload) if isinstance(p, Message)])
    return found


_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.I)
# The same on lower-cased ASCII text, without IGNORECASE (which finds no literal to skip to).
_LOWER_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""")
# Charsets every Python has, by the names reports use: no codec lookup needed.
_KNOWN_CHARSETS = frozenset(
    {"utf-8", "utf8", "iso-8859-1", "iso-8859-15", "windows-1252", "cp1252", "iso-2022-jp", "shift_jis",
     "euc-jp", "euc-kr", "gb2312", "gbk", "big5", "koi8-r", "windows-1251", "ks_c_5601-1987", "latin-1"}
)  # fmt: skip


def charset_of(part: Message) -> str:
    # a plain search of the header: Message.get_param is slow, and this runs for every part
    value = content_type_field(part) or ""
    if value.isascii():
        if "charset" not in value.lower():
            return "latin-1"
        m = _LOWER_CHARSET_RE.search(value.lower())
    else:
        m = _CHARSET_RE.search(value)
    name = (m.group(1) if m else "latin-1").lower()
    name = _CHARSET_ALIASES.get(name, name)
    if name in _KNOWN_CHARSETS:
        return name
    try:
        codecs.lookup(name)
    except LookupError:
        return "latin-1"
    return name


# Transfer encodings get_payload(decode=True) undoes.
_CODED = frozenset({"quoted-printable", "base64", "x-uuencode", "uuencode", "uue", "x-uue"})


_PADDED_SOFT_BREAK = re.compile(rb"=[ \t]+(\r?\n)")


def without_lone_crs(data: bytes) -> bytes:
    """``data`` with LF line ends when it has lone CRs (an old Mac's line ends, a file saved
    so), else as it is. The mail parser takes a lone CR for a line end too, but the decoders
    read LF lines, and the quoted-printable decoder takes no "=\\r" soft line break."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def qp_decode(data: bytes) -> bytes:
    """Quoted-printable ``data`` decoded (``data`` itself when it cannot be).

    The decoder takes only "=\\n" and "=\\r\\n" for soft line breaks, and after "=\\r" (an
    old Mac's line end, CR alone) it drops the rest of the line: lone CRs become LFs first,
    and blanks between "=" and the line end go.
    """
    data = without_lone_crs(data)
    if b"= " in data or b"=\t" in data:
        # blanks a transport added after a soft line break, which RFC 2045 (6.7) tells a
        # decoder to drop: the decoder would take "= " for a broken escape
        data = _PADDED_SOFT_BREAK.sub(rb"=\1", data)
    try:
        return binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        return data


def part_bytes(part: Message, limit: int = TEXT_LIMIT) -> bytes:
    """The decoded body of a leaf part (transfer encoding undone), at most ``limit`` bytes."""
    raw = getattr(part, "_payload", None)
    # stripped, unlike the library: a transport may pad the value ("quoted-printable ")
    field = _first_header(part, "content-transfer-encoding") or ""
    encoding = field.strip().lower()
    if isinstance(raw, str):
        try:
            if encoding not in _CODED:
                # What get_payload(decode=True) gives for a text payload without a transfer
                # encoding to undo (the text's bytes), without its full copies of the body (a
                # surrogate test by encoding it all, then the encoding itself): only the prefix
                # we keep is encoded.
                return raw[:limit].encode("ascii", "surrogateescape")
            if encoding == "quoted-printable":
                return qp_decode(raw.encode("ascii", "surrogateescape"))[:limit]
            if encoding == "base64" and field.lower() != encoding:  # the library leaves "base64 " undone
                return binascii.a2b_base64(raw.encode("ascii"))[:limit]
        except (UnicodeEncodeError, binascii.Error, ValueError):
            pass  # text that did not come from bytes, or broken base64: the library's own way
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: fall back to the raw text
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, list):
            return b"\n\n".join(sub.as_bytes() for sub in raw[:20] if isinstance(sub, Message))[:limit]
        payload = str(raw).encode("latin-1", "replace")
    if not isinstance(payload, bytes):
        return b""
    return payload[:limit]


def decode_text(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    except (LookupError, ValueError):
        return data.decode("latin-1", "replace")


def part_text(part: Message, limit: int = TEXT_LIMIT) -> str:
    """A leaf part's text, decoded from its charset, without CRs; at most ``limit`` bytes read."""
    text = decode_text(part_bytes(part, limit), charset_of(part))
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def header(msg: Message, name: str) -> str:
    """A header's value as text (RFC 2047 words decoded), '' when absent or unreadable."""
    value = msg.get(name)
    if value is None:
        return ""
    return decode_header_value(str(value))


def decode_header_value(text: str) -> str:
    """RFC 2047 words decoded, whitespace squeezed; never raises."""
    if "=?" in text:
        try:
            chunks = []
            for chunk, cs in decode_header(text):
                if isinstance(chunk, bytes):
                    chunks.append(decode_text(chunk, (cs or "latin-1").lower()))
                else:
                    chunks.append(chunk)
            text = "".join(chunks)
        except Exception:
            pass
    return " ".join(text.split())


_TAG_RE = re.compile(r"<[^>]{0,2000}>")
_ENTITY = {"&nbsp;": " ", "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#39;": "'"}
_ENTITY_RE = re.compile("|".join(map(re.escape, _ENTITY)))
_BLOCK_RE = re.compile(r"(?i)<\s*(?:br|/p|/div|/tr|/li|/h\d|p|div|tr)\b[^>]{0,500}>")


def html_to_text(html: str) -> str:
    """Good-enough HTML to text for NDR bodies: line breaks at blocks, tags dropped."""
    html = re.sub(r"(?is)<(script|style)\b.{0,20000}?</\1\s*>", " ", html)
    html = _BLOCK_RE.sub("\n", html)
    html = _TAG_RE.sub("", html)
    return _ENTITY_RE.sub(lambda m: _ENTITY[m.group(0)], html)
