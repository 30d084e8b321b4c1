"""``fastparse.parse`` builds exactly the tree ``email.message_from_bytes(compat32)`` does.

Every message of the corpus, the fixtures and the example maildir, then generated MIME trees
and mutated real messages (truncated, boundaries removed or doubled, line ends mixed, blank
lines and stray lines inserted), are parsed both ways and compared through a structural dump
of the whole tree: headers, envelope line, default type, preamble, epilogue, defects, charset,
content type, is_multipart, and for leaves the payload string and the decoded bytes.
"""

from __future__ import annotations

import contextlib
import email
import time
from email.message import Message
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bouncer.analysis import fastparse

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS_DIRS = (
    ROOT / "tests" / "corpus" / "sisimai" / "emails",
    ROOT / "tests" / "corpus" / "sisimai" / "not-bounce",
    ROOT / "tests" / "fixtures",
    ROOT / "examples" / "maildir",
)
SAMPLES = sorted(
    path
    for place in CORPUS_DIRS
    for path in place.rglob("*")
    if path.is_file() and (path.suffix == ".eml" or "maildir" in path.parts or "not-bounce" in path.parts)
)

_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples every run: a failure here is never luck
)


def dump(msg: Message) -> dict[str, Any]:
    """Everything of a compat32 tree that a reader of it can see, recursively."""
    found: dict[str, Any] = {
        "headers": list(msg._headers),  # type: ignore[attr-defined]
        "unixfrom": msg._unixfrom,  # type: ignore[attr-defined]
        "default_type": msg._default_type,  # type: ignore[attr-defined]
        "preamble": msg.preamble,
        "epilogue": msg.epilogue,
        "defects": [(type(defect).__name__, defect.args) for defect in msg.defects],
        "charset": msg._charset,  # type: ignore[attr-defined]
        "content_type": msg.get_content_type(),
        "is_multipart": msg.is_multipart(),
    }
    payload = msg._payload  # type: ignore[attr-defined]
    if isinstance(payload, list):
        found["parts"] = [dump(part) for part in payload]
    else:
        found["payload"] = payload
        found["decoded"] = msg.get_payload(decode=True)
    return found


def stdlib(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=compat32)


def assert_same(data: bytes) -> bool:
    """Assert both parsers agree on ``data``; True when the fast path read it itself."""
    expected = dump(stdlib(data))
    assert dump(fastparse.parse(data)) == expected
    fast = fastparse.parse_fast(data)
    if fast is None:
        return False
    assert dump(fast) == expected
    return True


def test_the_corpus_is_there() -> None:
    assert len(SAMPLES) > 400


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: str(path.relative_to(ROOT)))
def test_corpus_message_parses_identically(path: Path) -> None:
    assert_same(path.read_bytes())


def test_the_fast_path_reads_nearly_all_of_the_corpus() -> None:
    fell_back = [path.name for path in SAMPLES if fastparse.parse_fast(path.read_bytes()) is None]
    # Measured: none of the corpus needs the stdlib parser; a few would still be fine.
    assert len(fell_back) <= len(SAMPLES) // 50, fell_back


def test_returns_genuine_compat32_messages() -> None:
    msg = fastparse.parse(SAMPLES[0].read_bytes())
    assert type(msg) is Message
    assert msg.policy is compat32
    assert all(type(part) is Message and part.policy is compat32 for part in msg.walk())


# Hand-picked shapes FeedParser treats in its own way.
SHAPES = [
    b"",
    b"\n",
    b"\r\n\r\n",
    b"Subject: x",
    b"Subject: x\n",
    b"Subject: x\n\nbody",
    b"Subject:\n continued\n\tand more\n\nbody\n",
    b"Subject:   \n  \n\nbody\n",
    b"From MAILER-DAEMON Fri Nov 27 10:00:00 2026\nSubject: x\n\nbody\n",
    b"From MAILER-DAEMON\r\n\r\nbody\r\n",
    b"Subject: x\nFrom someone\n\nbody\n",
    b"Subject: x\nFrom someone\nTo: y\n\nbody\n",
    b" continuation first\nSubject: x\n\nbody\n",
    b": no name\nSubject: x\n\nbody\n",
    b"Subject: x\nthis is no header\nTo: y\n\nbody\n",
    b"no headers at all\n\nbody\n",
    b"Subject: x\r\nlone\rcr\r\n\r\nbody\r\n",
    b"Subject: x\n\nbody\rwith a lone CR\n",
    b"Subject: caf\xc3\xa9\nContent-Type: text/plain; charset=\xff\n\n\xff\xfe body\n",
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\none\n--b\n\ntwo\n--b--\n',
    b'Content-Type: multipart/mixed; boundary="b"\n\npre\n--b\n\none\n--b--\nepi\n',
    b'Content-Type: multipart/mixed; boundary="b"\n\npre\n\n--b \t\n\none\n\n--b-- \nepi\n\n',
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\none\r\n--b--',
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\none\n--b\n--b\n\ntwo\n--b--\n',
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\none\n--b\n--b--\n',
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\none\n--bx\n--b x\n',
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b--\nnothing\n',
    b'Content-Type: multipart/mixed; boundary="b"\n\nno boundary at all\n',
    b"Content-Type: multipart/mixed\n\nno boundary parameter\n",
    b'Content-Type: multipart/mixed; boundary="b"\nContent-Transfer-Encoding: base64\n\n--b\n\nx\n--b--\n',
    b'Content-Type: multipart/mixed; boundary="<b>"\n\n--b\n\nx\n--b--\n',
    b"Content-Type: multipart/mixed; boundary*=us-ascii''b\n\n--b\n\nx\n--b--\n",
    b'Content-Type: multipart/mixed; boundary="a"\n\n--a\nContent-Type: multipart/alternative; boundary="a"\n\n'
    b"--a\n\ninner\n--a--\n--a--\n",
    b'Content-Type: multipart/mixed; boundary="a"\n\n--a\nContent-Type: multipart/alternative; boundary="b"\n\n'
    b"--b\n\ninner\n--b--\ninner epilogue\n\n--a\n\nsecond\n--a--\n",
    b'Content-Type: multipart/mixed; boundary="a"\n\n--a\nContent-Type: multipart/alternative; boundary="b"\n\n'
    b"--b\n\ninner never closed\n--a--\n",
    b'Content-Type: multipart/digest; boundary="d"\n\n--d\n\nSubject: in digest\n\nbody\n--d\n'
    b"Content-Type: text/plain\n\nplain\n--d--\n",
    b'Content-Type: multipart/report; boundary="r"\n\n--r\n\ntext\n--r\nContent-Type: message/delivery-status\n\n'
    b"Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b\nAction: failed\n\n\n--r\n"
    b"Content-Type: message/rfc822\n\nSubject: original\n\nbody\n--r--\n",
    b"Content-Type: message/delivery-status\n\nA: 1\n\n\nB: 2\nnot a header\nC: 3\n\nD: 4",
    b"Content-Type: message/delivery-status\n\nA: 1\nContent-Type: multipart/mixed; boundary=x\n\n--x\n",
    b"Content-Type: message/delivery-status\n\n",
    b"Content-Type: message/rfc822\n\n",
    b"Content-Type: message\n\nSubject: not parsed as a message\n\nbody\n",
    b'Content-Type: multipart/mixed/x; boundary="b"\n\n--b\n\nnot a multipart\n--b--\n',
    b"Content-Type: \xff/\xfe\n\nnon-ASCII type\n",
    b"Subject: a\x0bb\x0c\x1c\n\nbody\x0b\x0c\x1c\x1d\x1e\xc2\x85\xe2\x80\xa8 not line breaks for FeedParser\n",
    b"Subject : x\n\nbody\n",
    b"X\x7f: y\n\nbody\n",
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\x0c\n\nx\n--b\n\ny\n--b--\x0b\n',
    b"Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nSubject: deep\n\nbody\n",
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/rfc822-headers\n\nSubject: h\n--b--\n',
]


@pytest.mark.parametrize("data", SHAPES)
def test_shapes_parse_identically(data: bytes) -> None:
    assert_same(data)
    assert_same(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def _nested(levels: int) -> bytes:
    nested = b"Subject: leaf\n\nhi\n"
    for level in range(levels):
        nested = (
            b'Content-Type: multipart/report; boundary="b%d"\n\n--b%d\nContent-Type: message/rfc822\n\n'
            % (level, level)
            + nested
            + b"\n--b%d--\n" % level
        )
    return nested


def test_deep_nesting_and_many_parts_parse_identically() -> None:
    # Two Message levels per wrapper: 40 wrappers are within MAX_DEPTH, 60 are not.
    assert assert_same(_nested(40))
    assert not assert_same(_nested(60))  # left to the stdlib, whatever it makes of it
    some = b'Content-Type: multipart/mixed; boundary="m"\n\n' + b"--m\n\npart\n" * 500 + b"--m--\n"
    assert assert_same(some)
    many = b'Content-Type: multipart/mixed; boundary="m"\n\n' + b"--m\n\npart\n" * 12_000 + b"--m--\n"
    assert not assert_same(many)  # beyond MAX_MESSAGES


def test_hostile_shapes_take_linear_time() -> None:
    blank_run = " \t\r\n" * 50_000
    hostile = [
        b"Content-Type: multipart/mixed; boundary=b" + b" " * 200_000 + b"!\n\n--b\n\nx\n--b--\n",
        ("Content-Type: multipart/mixed; a=b" + blank_run + "!\n\n").encode(),
        b'Content-Type: multipart/mixed; boundary="b"\n\n' + b"--b x\n" * 100_000 + b"--b--\n",
        b"".join(b"X-H-%d: %s\n" % (n, b"v" * 60) for n in range(20_000)) + b"\nbody\n",
        b"Subject: x\n" + b" " * 500_000 + b"\n\nbody\n",
    ]
    for data in hostile:
        started = time.perf_counter()
        fastparse.parse(data)
        assert time.perf_counter() - started < 1.0
        assert_same(data)


# --- generated messages -------------------------------------------------------------------

_NAMES = st.sampled_from(["Subject", "From", "To", "X-Tag", "content-type", "Received", "X-Empty"])
_TEXT = st.text(alphabet=st.sampled_from(list('ab -:;=\t"<>é\r')), max_size=12)


@st.composite
def _headers(draw: st.DrawFn, content_type: str | None) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(_NAMES)
        if name.lower() == "content-type":
            continue
        value = draw(_TEXT).replace("\r", "")
        lines.append(f"{name}:{draw(st.sampled_from(['', ' ', '  ']))}{value}\n")
        if draw(st.booleans()):
            lines.append(f"{draw(st.sampled_from([' ', chr(9)]))}{value}\n")
    if content_type is not None:
        lines.insert(draw(st.integers(0, len(lines))), f"Content-Type: {content_type}\n")
    if draw(st.integers(0, 9)) == 0:
        lines.insert(0, "From sender@example.org Fri Nov 27 2026\n")
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["stray line\n", " cont\n", ":x\n"])))
    return "".join(lines)


@st.composite
def _body_lines(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.sampled_from(["text", "", "--", "-- ", "a: b", " x", "From x", "\t"]), max_size=4))
    return "".join(line + "\n" for line in lines)


@st.composite
def _entity(draw: st.DrawFn, depth: int) -> str:
    choice = draw(st.integers(0, 5 if depth < 3 else 1))
    if choice <= 1:
        ctype = draw(st.sampled_from([None, "text/plain", "text/rfc822-headers", "application/octet-stream"]))
        return _headers_then(draw, ctype) + draw(_body_lines())
    if choice == 2:
        inner = draw(_entity(depth + 1))
        return _headers_then(draw, draw(st.sampled_from(["message/rfc822", "message/global"]))) + inner
    if choice == 3:
        blocks = [
            "".join(f"{name}: {value}\n" for name, value in draw(st.lists(st.tuples(_NAMES, _TEXT), max_size=3)))
            for _ in range(draw(st.integers(0, 3)))
        ]
        separator = "\n" * draw(st.integers(1, 2))
        body = separator.join(block.replace("\r", "") for block in blocks)
        return _headers_then(draw, "message/delivery-status") + body + "\n" * draw(st.integers(0, 2))
    boundary = draw(st.sampled_from(["b", "b1", "=_x", "a b", "b" * 30])) + str(depth)
    subtype = draw(st.sampled_from(["mixed", "report", "digest", "alternative"]))
    quoted = draw(st.booleans())
    parameter = f'"{boundary}"' if quoted else boundary
    head = _headers_then(draw, f"multipart/{subtype}; boundary={parameter}")
    parts = [draw(_entity(depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    text = head + draw(st.sampled_from(["", "preamble\n", "pre\n\n"]))
    for part in parts:
        text += f"--{boundary}{draw(st.sampled_from(['', ' ', chr(9) + ' ']))}\n" + part + "\n"
    if draw(st.integers(0, 4)) > 0:
        text += f"--{boundary}--{draw(st.sampled_from(['', ' ']))}\n" + draw(st.sampled_from(["", "epilogue\n", "\n"]))
    return text


def _headers_then(draw: st.DrawFn, content_type: str | None) -> str:
    return draw(_headers(content_type)) + draw(st.sampled_from(["\n", "\n", "\n", ""]))


@st.composite
def _line_ends(draw: st.DrawFn, text: str) -> bytes:
    mode = draw(st.sampled_from(["lf", "crlf", "mixed"]))
    if mode == "crlf":
        text = text.replace("\n", "\r\n")
    elif mode == "mixed":
        lines = text.split("\n")
        text = "".join(line + draw(st.sampled_from(["\n", "\r\n"])) for line in lines[:-1]) + lines[-1]
    return text.encode("utf-8", "surrogateescape")


@_SETTINGS
@given(st.data())
def test_generated_messages_parse_identically(data: st.DataObject) -> None:
    text = data.draw(_entity(0))
    assert_same(data.draw(_line_ends(text)))


@_SETTINGS
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_corpus_messages_parse_identically(path: Path, data: st.DataObject) -> None:
    raw = path.read_bytes()
    lines = raw.splitlines(keepends=True)
    mutation = data.draw(
        st.sampled_from(["truncate", "drop_boundaries", "double_boundary", "crlf", "lf", "mix", "insert"])
    )
    if mutation == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif mutation == "drop_boundaries":
        boundary_lines = [index for index, line in enumerate(lines) if line.startswith(b"--")]
        drop = set(data.draw(st.lists(st.sampled_from(boundary_lines), max_size=3))) if boundary_lines else set()
        raw = b"".join(line for index, line in enumerate(lines) if index not in drop)
    elif mutation == "double_boundary":
        boundary_lines = [index for index, line in enumerate(lines) if line.startswith(b"--")]
        if boundary_lines:
            index = data.draw(st.sampled_from(boundary_lines))
            lines.insert(index, lines[index])
        raw = b"".join(lines)
    elif mutation == "crlf":
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    elif mutation == "lf":
        raw = raw.replace(b"\r\n", b"\n")
    elif mutation == "mix":
        raw = b"".join(
            line.rstrip(b"\r\n") + data.draw(st.sampled_from([b"\n", b"\r\n"])) if line.endswith(b"\n") else line
            for line in lines
        )
    else:
        index = data.draw(st.integers(0, len(lines)))
        lines.insert(index, data.draw(st.sampled_from([b"\n", b"\r\n", b"stray\n", b" cont\n", b"From x\n", b"\r"])))
        raw = b"".join(lines)
    assert_same(raw)


@_SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_parse_identically(raw: bytes) -> None:
    assert_same(raw)


_PARAMETER_PIECES = st.sampled_from(
    [
        "multipart/mixed",
        "MULTIPART/Report",
        "boundary",
        "BOUNDARY",
        "boundary*",
        "boundary*0*",
        "charset",
        "=",
        ";",
        '"',
        "\\",
        " ",
        "\t",
        "\r\n ",
        "<",
        ">",
        "b1",
        "=_x",
        "us-ascii''b",
        "é",
        "/",
        "a b",
        "*",
        "?",
    ]
)


@_SETTINGS
@given(st.lists(_PARAMETER_PIECES, max_size=12))
def test_boundary_reads_as_get_boundary_does(pieces: list[str]) -> None:
    msg = Message()
    msg["Content-Type"] = "".join(pieces)
    assert fastparse._boundary(msg) == msg.get_boundary()


_WS = st.sampled_from(["", " ", "\t", "\r\n\t", "  "])


@st.composite
def _parameter_lists(draw: st.DrawFn) -> str:
    text = draw(_WS) + draw(st.sampled_from(["multipart/mixed", "Multipart/Report", "text/plain"])) + draw(_WS)
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["boundary", "Boundary", "charset", "report-type", "boundary*"]))
        value = draw(st.sampled_from(["b", "=_Part_1.2", "<b>", "b ", " b", "a;b", "x<", "", "'b'", "é"]))
        quoted = draw(st.booleans())
        value = f'"{value}"' if quoted else value
        text += f";{draw(_WS)}{name}{draw(_WS)}={draw(_WS)}{value}{draw(_WS)}"
    return text + draw(st.sampled_from(["", ";", "; ", ";;"]))


@_SETTINGS
@given(_parameter_lists())
def test_boundary_of_parameter_lists_reads_as_get_boundary_does(value: str) -> None:
    msg = Message()
    msg["Content-Type"] = value
    assert fastparse._boundary(msg) == msg.get_boundary()


@pytest.mark.parametrize("value", ["7bit", " 8BIT", "binary ", "base64", "quoted-printable", "8bit\xe9", "\udcff"])
def test_multipart_transfer_encoding_reads_as_feedparser_does(value: str) -> None:
    msg = Message()
    msg["Content-Transfer-Encoding"] = value
    assert fastparse._transfer_encoding(msg) == str(msg.get("content-transfer-encoding", "8bit")).lower()
    assert fastparse._transfer_encoding(Message()) == "8bit"
    data = f'Content-Type: multipart/mixed; boundary="b"\nContent-Transfer-Encoding: {value}\n\n--b\n\nx\n--b--\n'
    assert_same(data.encode("utf-8", "surrogateescape"))


def test_content_type_of_every_part_is_get_content_type() -> None:
    for path in SAMPLES:
        data = path.read_bytes()
        for msg in (fastparse.parse(data), stdlib(data)):
            for part in msg.walk():
                assert fastparse.content_type(part) == part.get_content_type()


_MULTIPART = (
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/html\n\nx\n--b\n\ny\n'
    b'--b\nContent-Type: multipart/digest; boundary="d"\n\n--d\n\nSubject: z\n\nz\n--d--\n--b--\n'
)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.replace_header("Content-Type", "text/csv"),
        lambda m: m.__delitem__("Content-Type"),
        lambda m: m.__setitem__("X-Other", "y"),
        lambda m: (m.__delitem__("Content-Type"), m.__setitem__("Content-Type", "image/png")),
        lambda m: m.set_type("application/json"),
        lambda m: m.set_param("charset", "utf-8"),
        lambda m: m.set_default_type("message/rfc822"),
        lambda m: m.add_header("Content-Type", "text/csv"),
        lambda m: m.set_boundary("other"),
        lambda m: m.set_charset("utf-8"),
        lambda m: m.set_raw("Content-Type", "audio/ogg"),
    ],
)
def test_content_type_follows_changes_to_a_parsed_message(change: Any) -> None:
    """The type remembered while parsing is only used while the fields it came from stand."""
    msg = fastparse.parse(_MULTIPART)
    for part in msg.walk():
        assert fastparse.content_type(part) == part.get_content_type()
        # a change that does not apply to this part raises, maybe after changing it halfway
        with contextlib.suppress(Exception):
            change(part)
        assert fastparse.content_type(part) == part.get_content_type()
