"""A fast, exact stand-in for ``email.message_from_bytes(data, policy=compat32)``.

The standard library's FeedParser reads a message one line at a time in Python, pushing
every line past a stack of boundary regexes; on the bounce corpus that parse costs more
than the whole analysis that follows it. ``parse`` builds the very same compat32
``Message`` tree (the same ``_headers``, ``_payload``, ``_unixfrom``, ``_default_type``,
``preamble``, ``epilogue``, ``defects`` and ``_charset``) with C-speed string searches:
the header block is found with ``str.find`` and read with one regex, multipart boundaries
are found with ``str.find`` on ``"\\n--" + boundary``, and bodies are slices.

It reproduces FeedParser's rules exactly for the shapes it knows, which are the shapes of
well-formed mail. Whenever a message strays from them (anything FeedParser would record a
defect for, a lone CR, a misplaced envelope ``From`` line, two boundary lines in a row, an
unusually deep or large tree) the whole message is handed to the standard library parser
instead, so the result is identical either way. ``tests/analysis/test_fastparse.py``
compares the two trees on the corpus and on generated and mutated messages.

How FeedParser behaves, in the terms used below (Python 3.11 ``email/feedparser.py``):

- Input is split into lines at ``\\r\\n``, ``\\r`` and ``\\n`` only, line ends kept.
- A header block is the run of lines matching ``From |name:|[ \\t]`` from the start of a
  part; a blank line ends it and is consumed, the end of the part ends it too; any other
  line is a defect (MissingHeaderBodySeparator).
- While a multipart's subpart is parsed, every line is tested against the boundary regex
  of each enclosing multipart; the first that matches is a false end of file. So a part's
  extent is "up to the next line that is a boundary line of an enclosing multipart"; we
  keep the invariant that a part's region holds no boundary line of its ancestors, and
  then only need to look for the multipart's own boundary within it.
- The line break before a boundary line belongs to the boundary: after each subpart it is
  cut from the payload of the most recently created message (``_last``), or from the
  epilogue when that is a multipart (an empty epilogue becomes None).
- ``message/delivery-status`` is read as blocks of header lines separated by blank lines,
  each block a header-only Message with payload ``''``.
- Any other ``message/*`` type (``message/rfc822`` among them, and every part of a
  ``multipart/digest`` without a Content-Type) holds one parsed message.
"""

from __future__ import annotations

import re
from email import errors, message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import unquote
from typing import Any, Final

__all__ = ["MAX_DEPTH", "MAX_MESSAGES", "content_type", "content_type_field", "header", "parse", "parse_fast"]

# FeedParser itself has no limits (it only recurses); beyond these we let it do the work,
# so a hostile message costs the stdlib's price, never more and never a different result.
MAX_DEPTH: Final = 100  # nested multipart / message levels
MAX_MESSAGES: Final = 10_000  # Message objects in one tree (parts plus DSN blocks)

# A header block (after an optional envelope line): every line a ``name:`` line or its
# continuation. FeedParser's header regex is ``[\041-\071\073-\176]*:``; an empty name is
# a defect there, so it is a fallback here.
_HEADER_BLOCK: Final = re.compile(r"(?:[!-9;-~]+:[^\n]*(?:\n[ \t][^\n]*)*(?:\n|\Z))*")
# One header with its continuation lines. compat32's header_source_parse: the name up to
# the first colon, unmodified; the value is the rest of the first line with leading blanks
# stripped plus the continuation lines verbatim, then trailing CR/LF stripped.
_HEADER: Final = re.compile(r"([!-9;-~]+):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)\n?")
# What may follow ``--boundary`` on a boundary line: FeedParser's
# ``(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$`` (the LF is outside the range).
# The lines FeedParser takes for header lines (its ``headerRE``).
_FEED_HEADER_LINE: Final = re.compile(r"From |[!-9;-~]*:|[\t ]")
_DELIMITER_TAIL: Final = re.compile(r"(--)?[ \t]*\r?")
# A Content-Type value that is a type and a plain list of parameters (see _boundary).
_TOKEN: Final = r"[!#-'*+\-.0-9A-Z^-~]+"
_FWS: Final = r"[ \t\r\n]*"
_PARAMETER_SOURCE: Final = rf';{_FWS}([a-zA-Z][a-zA-Z0-9-]*){_FWS}={_FWS}("[^"\\;]*"|{_TOKEN})'
# No two whitespace runs meet (that would backtrack quadratically on a long blank run).
_SIMPLE_PARAMETERS: Final = re.compile(rf"{_FWS}{_TOKEN}/{_TOKEN}(?:{_FWS}{_PARAMETER_SOURCE})*{_FWS}(?:;{_FWS})?")
_PARAMETER: Final = re.compile(_PARAMETER_SOURCE)
_LONE_CR: Final = re.compile(r"\r(?!\n)")
_MULTIPART_TRANSFER_ENCODINGS: Final = frozenset({"7bit", "8bit", "binary"})


class _Fallback(Exception):
    """The message strays from the shapes parsed here: let the standard library do it."""


def parse(data: bytes) -> Message:
    """Parse ``data`` exactly as ``email.message_from_bytes(data, policy=compat32)`` does."""
    msg = parse_fast(data)
    if msg is None:
        return message_from_bytes(data, policy=compat32)
    return msg


def parse_fast(data: bytes) -> Message | None:
    """The fast parse of ``data``, or None when only the standard library parser can be
    trusted to read it (the caller then falls back; ``parse`` does)."""
    text = data.decode("ascii", "surrogateescape")
    # FeedParser also breaks lines at a lone CR; every search below assumes LF line ends
    # (optionally preceded by CR), so such rare input is left to it.
    has_cr = "\r" in text  # most mail is stored with bare LF line ends: no CR to look after
    if has_cr and _LONE_CR.search(text) is not None:
        return None
    try:
        msg = _Parser(text, has_cr).message(0, len(text), False, 0)[0]
    except _Fallback:
        return None
    if content_type(msg).startswith("multipart/") and not msg.is_multipart():
        msg.defects.append(errors.MultipartInvariantViolationDefect())  # as FeedParser.close()
    return msg


class _Parser:
    __slots__ = ("count", "has_cr", "text")

    def __init__(self, text: str, has_cr: bool) -> None:
        self.text = text
        self.has_cr = has_cr
        self.count = 0

    def new_message(self) -> Message:
        self.count += 1
        if self.count > MAX_MESSAGES:
            raise _Fallback
        return Message()

    def message(self, start: int, end: int, in_digest: bool, depth: int) -> tuple[Message, Message, bool]:
        """Parse the message in ``text[start:end]``.

        Returns the message, the most recently created message of its tree (FeedParser's
        ``_last``, whose trailing line break the enclosing multipart cuts) and whether that
        one's main type is multipart.
        """
        if depth > MAX_DEPTH:
            raise _Fallback
        msg = self.new_message()
        if in_digest:
            msg.set_default_type("message/rfc822")
        body = self.headers(msg, start, end)[0]
        ctype = _remember_content_type(msg)
        if ctype == "message/delivery-status":
            return msg, *self.delivery_status(msg, body, end)
        maintype = ctype.partition("/")[0]
        if maintype == "message":
            child, last, last_multipart = self.message(body, end, False, depth + 1)
            msg._payload = [child]  # type: ignore[attr-defined]
            return msg, last, last_multipart
        if maintype == "multipart":
            self.multipart(msg, ctype, body, end, depth)
            return msg, msg, True
        msg._payload = self.text[body:end]  # type: ignore[attr-defined]
        return msg, msg, False

    def headers(self, msg: Message, start: int, end: int) -> tuple[int, int, int]:
        """Read the header block at ``start`` into ``msg``.

        Returns where the body starts (after the blank line that ends the headers, at the
        first line that is no header line, or ``end``), and where the first blank line
        starts and ends (both ``end`` if there is none).
        """
        text = self.text
        if start >= end:
            return end, end, end
        if text.startswith("\n", start, end):
            return start + 1, start, start + 1
        if self.has_cr and text.startswith("\r\n", start, end):
            return start + 2, start, start + 2
        lf = text.find("\n\n", start, end)
        crlf = text.find("\n\r\n", start, lf + 2 if lf >= 0 else end) if self.has_cr else -1
        if crlf >= 0:
            blank, after_blank = crlf + 1, crlf + 3
        elif lf >= 0:
            blank, after_blank = lf + 1, lf + 2
        else:
            blank = after_blank = end
        position = start
        if text.startswith("From ", start, blank):
            # The envelope line of an mbox message, taken only as the very first line.
            newline = text.find("\n", start, blank)
            position = blank if newline < 0 else newline + 1
            first = text[start:position]
            if first.endswith("\r\n"):
                first = first[:-2]
            elif first.endswith("\n"):
                first = first[:-1]
            msg._unixfrom = first  # type: ignore[attr-defined]
        matched = _HEADER_BLOCK.match(text, position, blank)
        assert matched is not None  # the pattern matches the empty string
        stop = matched.end()
        if stop > position:
            if self.has_cr:
                msg._headers = [  # type: ignore[attr-defined]
                    (name, value.rstrip("\r\n")) for name, value in _HEADER.findall(text, position, stop)
                ]
            else:  # without a CR, no value ends in a line break: the pairs are the fields
                msg._headers = _HEADER.findall(text, position, stop)  # type: ignore[attr-defined]
        if stop == blank:
            return after_blank, blank, after_blank
        # A line that is neither a header nor blank: FeedParser notes the defect and reads
        # the body from that line on. Lines it takes for headers but we do not (an empty
        # name, a continuation first, a misplaced envelope line) are left to it.
        if _FEED_HEADER_LINE.match(text, stop, blank) is not None:
            raise _Fallback
        msg.defects.append(errors.MissingHeaderBodySeparatorDefect())
        return stop, blank, after_blank

    def delivery_status(self, msg: Message, start: int, end: int) -> tuple[Message, bool]:
        """Blocks of header lines separated by blank lines, one Message each."""
        text = self.text
        blocks: list[Message] = []
        position = start
        while True:
            block = self.new_message()
            body, blank, after_blank = self.headers(block, position, end)
            # A blank line is a false end of file inside the block, so its body is empty
            # unless a non-header line started it early. A block with a Content-Type of
            # its own could start a nested parse; leave that to FeedParser.
            if _content_type(block).partition("/")[0] in ("message", "multipart"):
                raise _Fallback
            block._payload = text[body:blank] if body < blank else ""  # type: ignore[attr-defined]
            blocks.append(block)
            if blank >= end:
                break
            position = after_blank  # the blank line is consumed...
            if position >= end:  # ...and if nothing follows, the part is over
                break
        msg._payload = blocks  # type: ignore[attr-defined]
        return blocks[-1], False

    def multipart(self, msg: Message, ctype: str, start: int, end: int, depth: int) -> None:
        text = self.text
        boundary = _boundary(msg)
        if boundary is None:
            # FeedParser notes the defect and keeps the whole body as one text payload.
            msg.defects.append(errors.NoBoundaryInMultipartDefect())
            msg._payload = text[start:end]  # type: ignore[attr-defined]
            return
        if "\n" in boundary or "\r" in boundary:
            raise _Fallback  # FeedParser matches it against single lines: it never matches
        if _transfer_encoding(msg) not in _MULTIPART_TRANSFER_ENCODINGS:
            msg.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())
        delimiter = "--" + boundary
        found = self.boundary_line(delimiter, start, end)
        if found is None or found[1]:
            # No separator before the end (or the close delimiter first): the text up to
            # there is the payload, whatever follows is dropped, the epilogue is empty.
            msg.defects.append(errors.StartBoundaryNotFoundDefect())
            msg._payload = text[start : end if found is None else found[0]]  # type: ignore[attr-defined]
            msg.epilogue = ""
            return
        line_start, _, position = found
        if line_start > start:
            preamble = text[start:line_start]
            msg.preamble = preamble[:-2] if preamble.endswith("\r\n") else preamble[:-1]
        in_digest = ctype == "multipart/digest"
        parts: list[Message] = []
        msg._payload = parts  # type: ignore[attr-defined]
        while True:
            found = self.boundary_line(delimiter, position, end)
            if found is not None and found[0] == position:
                raise _Fallback  # boundary lines in a row: FeedParser swallows them
            part_end = end if found is None else found[0]
            part, last, last_multipart = self.message(position, part_end, in_digest, depth + 1)
            parts.append(part)
            # The line break before a boundary line belongs to the boundary.
            if last_multipart:
                epilogue = last.epilogue
                if epilogue == "":
                    last.epilogue = None
                elif epilogue is not None:
                    last.epilogue = _cut_line_break(epilogue)
            else:
                payload = last._payload  # type: ignore[attr-defined]
                if isinstance(payload, str):
                    last._payload = _cut_line_break(payload)  # type: ignore[attr-defined]
            if found is None:
                msg.defects.append(errors.CloseBoundaryNotFoundDefect())
                return
            if found[1]:
                msg.epilogue = text[found[2] : end]
                return
            position = found[2]

    def boundary_line(self, delimiter: str, start: int, end: int) -> tuple[int, bool, int] | None:
        """The first boundary line at or after ``start`` (a line start) before ``end``.

        Returns its start, whether it is the close delimiter and where the next line starts.
        """
        text = self.text
        if text.startswith(delimiter, start, end):
            candidate = start
        else:
            candidate = text.find("\n" + delimiter, start, end)
            if candidate < 0:
                return None
            candidate += 1
        while True:
            after = candidate + len(delimiter)
            newline = text.find("\n", after, end)
            line_end = end if newline < 0 else newline
            if line_end == after:  # the usual boundary lines first: "--b" and "--b--" alone
                return candidate, False, end if newline < 0 else newline + 1
            if line_end == after + 2 and text.startswith("--", after):
                return candidate, True, end if newline < 0 else newline + 1
            tail = _DELIMITER_TAIL.fullmatch(text, after, line_end)
            if tail is not None:
                return candidate, tail.group(1) is not None, end if newline < 0 else newline + 1
            candidate = text.find("\n" + delimiter, after, end)
            if candidate < 0:
                return None
            candidate += 1


# The attribute of a Message parsed here that remembers its content type: (its header list,
# that list's length, the index of its first Content-Type field or -1, that field, its
# default type, the content type).
_MEMO: Final = "_fastparse_content_type"


def content_type(msg: Message) -> str:
    """``msg.get_content_type()``, without its generic header lookup for the usual case.

    For any compat32 message, not only those parsed here: the analysis asks every part's
    type several times, and ``get_content_type()`` lower-cases every header name each time.
    A message parsed here remembers the type found while parsing, as long as its Content-Type
    field and its default type stay as they were: every way the Message API changes the
    fields either appends one (a longer list), builds a new list (``__delitem__``,
    ``set_boundary``) or replaces one in place (``replace_header``: another tuple at its
    index), and ``set_default_type`` changes the default.
    """
    memo = _valid_memo(msg)
    return _content_type(msg) if memo is None else memo[5]


def content_type_field(msg: Message) -> str | None:
    """``header(msg, "content-type")``: the raw Content-Type value, remembered like the type."""
    memo = _valid_memo(msg)
    if memo is None:
        return header(msg, "content-type")
    field = memo[3]
    return None if field is None else field[1]


def _valid_memo(msg: Message) -> tuple[Any, ...] | None:
    """What ``msg`` remembers of its content type, if that still stands."""
    memo: tuple[Any, ...] | None = getattr(msg, _MEMO, None)
    if memo is not None:
        headers, size, index, field, default, _ = memo
        current = msg._headers  # type: ignore[attr-defined]
        if (
            current is headers
            and len(current) == size
            and (index < 0 or current[index] is field)
            and msg._default_type == default  # type: ignore[attr-defined]
        ):
            return memo
    return None


def _remember_content_type(msg: Message) -> str:
    """``_content_type(msg)``, remembered on ``msg`` for ``content_type`` when it is found
    without the library's help (most parts have few header fields: the search is cheap)."""
    headers = msg._headers  # type: ignore[attr-defined]
    index = 0
    for field in headers:
        name = field[0]
        if len(name) == 12 and name.lower() == "content-type":
            value = field[1]
            if not value.isascii():
                return _content_type(msg)
            ctype = value.partition(";")[0].strip().lower()
            if ctype.count("/") != 1:
                ctype = "text/plain"
            break
        index += 1
    else:
        index, field, ctype = -1, None, msg._default_type  # type: ignore[attr-defined]
    setattr(msg, _MEMO, (headers, len(headers), index, field, msg._default_type, ctype))  # type: ignore[attr-defined]
    return ctype  # type: ignore[no-any-return]


def untyped(msg: Message) -> Any:
    """``msg``, for reading header values as compat32 hands them out: a str, or a ``Header``
    for a value holding undecodable bytes. typeshed calls them all str, and the compiled build
    (``setup.py``) checks values against their declared types, so a Header would raise there."""
    return msg


def header(msg: Message, lower_name: str) -> str | None:
    """``msg.get(lower_name)`` as a string, for a lower-case name; ``None`` when absent.

    The first field of that name, as compat32 hands it out: an ASCII value as stored; a
    value holding undecodable bytes (which compat32 turns into a ``Header``) is left to
    ``Message.get`` and ``str()``, so the result is the same either way.
    """
    size = len(lower_name)
    for name, value in msg._headers:  # type: ignore[attr-defined]
        if len(name) == size and name.lower() == lower_name:
            if isinstance(value, str) and value.isascii():
                return value
            return str(untyped(msg).get(lower_name))
    return None


def _content_type(msg: Message) -> str:
    """``msg.get_content_type()``, without its generic header lookup for the usual case."""
    value = _content_type_value(msg)
    if value is None:
        return msg.get_default_type()
    if type(value) is not str or not value.isascii():  # compat32 hands such a value out as a Header
        return msg.get_content_type()
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def _content_type_value(msg: Message) -> str | None:
    for name, value in msg._headers:  # type: ignore[attr-defined]
        if len(name) == 12 and name.lower() == "content-type":
            return value  # type: ignore[no-any-return]
    return None


def _transfer_encoding(msg: Message) -> str:
    """``str(msg.get("content-transfer-encoding", "8bit")).lower()``, as FeedParser tests it."""
    for name, value in msg._headers:  # type: ignore[attr-defined]
        if len(name) == 25 and name.lower() == "content-transfer-encoding":
            if not value.isascii():  # compat32 hands such a value out as a Header
                break
            return value.lower()  # type: ignore[no-any-return]
    else:
        return "8bit"
    return str(untyped(msg).get("content-transfer-encoding", "8bit")).lower()


def _boundary(msg: Message) -> str | None:
    """``msg.get_boundary()``; by hand when the Content-Type is a plain list of parameters.

    For such a value (ASCII, no backslash, no RFC 2231 ``name*``, quoted strings without
    ``;``) the stdlib's _parseparam/decode_params/get_param/collapse_rfc2231_value chain
    comes down to: the first ``boundary`` parameter, whitespace-stripped, unquoted twice
    (once by get_param, once by collapse_rfc2231_value), right-stripped.
    """
    value = _content_type_value(msg)
    if value is None or not value.isascii() or _SIMPLE_PARAMETERS.fullmatch(value) is None:
        return msg.get_boundary()
    for name, raw in _PARAMETER.findall(value):
        if name.lower() == "boundary":
            return unquote(unquote(raw)).rstrip()
    return None


def _cut_line_break(value: str) -> str:
    if value.endswith("\r\n"):
        return value[:-2]
    if value.endswith("\n"):
        return value[:-1]
    return value
