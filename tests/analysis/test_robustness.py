"""Hostile and broken input: analysis returns an Analysis, quickly, in bounded memory, every time.

Property tests (hypothesis) feed random bytes, truncated and byte-mutated real bounces,
deep nesting, broken charsets, transfer encodings and MIME boundaries, huge headers and a
20 MB attachment. The time bound per input (1 s) is far above the 100 ms goal, which
``bench/analysis.py --max-ms`` measures: a loaded 2-core machine must not make these flaky.
The campaign lookup is exercised on the same inputs directly too, as it runs on whatever
the engine hands it.
"""

from __future__ import annotations

import base64
import email
import time
import tracemalloc
from email.policy import compat32
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bouncer.analysis import Analysis, AnalysisOptions, analyse
from bouncer.analysis.campaign import CampaignRef, find_campaign

TESTS = Path(__file__).resolve().parent.parent
CORPUS = TESTS / "corpus" / "sisimai" / "emails"
SAMPLES = sorted(CORPUS.glob("*.eml"))

KEY = "3b9f1c2d-8e4a-d7b6-a5c4-0f1e2d3c4b5a"
PER_INPUT_SECONDS = 1.0
OPTIONS = AnalysisOptions()

_FAST = settings(
    max_examples=150,
    deadline=None,  # timed by hand below, with a bound that means something
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples every run: a failure here is never luck
)


def _check(raw: bytes, seconds: float = PER_INPUT_SECONDS) -> Analysis:
    """analyse() returns an Analysis in time; so does the campaign lookup on the parsed tree."""
    started = time.perf_counter()
    result = analyse(raw)
    elapsed = time.perf_counter() - started
    assert isinstance(result, Analysis)
    assert elapsed < seconds, f"analyse took {elapsed:.2f}s on {len(raw)} bytes"
    tree = email.message_from_bytes(raw, policy=compat32)
    started = time.perf_counter()
    ref = find_campaign(tree, OPTIONS)
    elapsed = time.perf_counter() - started
    assert isinstance(ref, CampaignRef)
    assert elapsed < seconds, f"find_campaign took {elapsed:.2f}s on {len(raw)} bytes"
    return result


def test_corpus_is_there() -> None:
    assert len(SAMPLES) > 400, f"no corpus at {CORPUS}"


@_FAST
@given(st.binary(max_size=4096))
def test_random_bytes(raw: bytes) -> None:
    _check(raw)


@_FAST
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: a@b\r\n",
                b"Content-Type: multipart/report; boundary=x\r\n",
                b"\r\n",
                b"--x\r\n",
                b"--x--\r\n",
                b"Content-Type: message/rfc822\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"=?utf-8?q?=ZZ?=\r\n",
                b"X-CampTrackID: " + KEY.encode() + b"\r\n",
                b"identifier=" + KEY.encode(),
                b"Received: from x\r\n",
                b"\xff\xfe\x00",
                b"=\r\n",
                b" folded\r\n",
            ]
        ),
        max_size=200,
    )
)
def test_random_mime_shaped_lines(lines: list[bytes]) -> None:
    _check(b"".join(lines))


@_FAST
@given(st.sampled_from(SAMPLES), st.floats(min_value=0.0, max_value=1.0))
def test_truncated_real_messages(path: Path, fraction: float) -> None:
    raw = path.read_bytes()
    _check(raw[: int(len(raw) * fraction)])


@_FAST
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.floats(min_value=0.0, max_value=1.0), st.integers(0, 255)), min_size=1, max_size=40),
)
def test_byte_mutated_real_messages(path: Path, mutations: list[tuple[float, int]]) -> None:
    raw = bytearray(path.read_bytes())
    for where, byte in mutations:
        raw[min(int(where * len(raw)), len(raw) - 1)] = byte
    _check(bytes(raw))


_CHARSETS = [
    "utf-8",
    "x-unknown",
    "unknown-8bit",
    "utf-7",
    "utf-16",
    "utf-32-be",
    "bogus",
    "",
    '"',
    "utf-8''",
    "iso-2022-jp",
    "gb18030",
    "cp037",
    "x-mac-roman",
    "windows-9999",
    "us-ascii\x00",
]
_ENCODINGS = ["base64", "quoted-printable", "8bit", "7bit", "binary", "x-uuencode", "base-64", "garbage", ""]


@_FAST
@given(st.sampled_from(_CHARSETS), st.sampled_from(_ENCODINGS), st.binary(max_size=2048), st.booleans())
def test_broken_charsets_and_encodings(charset: str, cte: str, body: bytes, as_report: bool) -> None:
    head = (
        f'Content-Type: text/plain; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'.encode(
            "utf-8", "surrogateescape"
        )
        + body
    )
    if as_report:
        raw = (
            b"From: MAILER-DAEMON@example.org\r\nSubject: Returned mail\r\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            b"--b\r\n" + head + b"\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            b"--b\r\nContent-Type: message/rfc822\r\n" + head + b"\r\n--b--\r\n"
        )
    else:
        raw = b"From: postmaster@example.org\r\nSubject: x\r\n" + head
    _check(raw)


@_FAST
@given(
    st.sampled_from(
        ['boundary="b"', "boundary=", 'boundary=""', "boundary=b;boundary=c", "", 'boundary="' + "x" * 500]
    ),
    st.lists(st.sampled_from(["--b", "--b--", "--c", "--", "---b", "--b ", "--b\t--", "text", ""]), max_size=60),
)
def test_malformed_mime_boundaries(parameter: str, lines: list[str]) -> None:
    raw = (
        "From: MAILER-DAEMON@example.org\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status; {parameter}\r\n\r\n" + "\r\n".join(lines)
    ).encode()
    _check(raw)


def _nested_rfc822(depth: int) -> bytes:
    inner = (
        f"From: news@example.org\r\nMessage-ID: <deep@example.org>\r\nX-CampTrackID: {KEY}\r\n\r\nhello\r\n"
    ).encode()
    for level in range(depth):
        inner = (
            b"From: MAILER-DAEMON@example.org\r\nSubject: Returned mail\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="b%d"\r\n\r\n'
            b"--b%d\r\nContent-Type: text/plain\r\n\r\nUser unknown\r\n"
            b"--b%d\r\nContent-Type: message/rfc822\r\n\r\n"
            % (level, level, level)
            + inner
            + b"\r\n--b%d--\r\n" % level
        )
    return inner


def test_fifty_deep_nested_messages() -> None:
    _check(_nested_rfc822(50))


def test_fifty_deep_nested_multiparts() -> None:
    raw = b"From: MAILER-DAEMON@example.org\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for level in range(1, 51):
        raw += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (level - 1, level)
    raw += b"--b50\r\nContent-Type: text/plain\r\n\r\ndeep\r\n"
    raw += b"".join(b"--b%d--\r\n" % level for level in range(50, -1, -1))
    _check(raw)


def test_huge_headers() -> None:
    many = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"v" * 60) for n in range(20_000))
    long_value = b"Subject: " + b"word " * 200_000 + b"\r\n"
    folded = b"Received: from x\r\n" + b"\tby relay.example.org with SMTP;\r\n" * 20_000
    for head in (many, long_value, folded):
        _check(b"From: MAILER-DAEMON@example.org\r\n" + head + b"\r\nbody\r\n", seconds=3.0)


def _with_big_attachment(megabytes: int) -> bytes:
    payload = base64.encodebytes(bytes(range(256)) * (megabytes * 3 // 4 * 1024 * 1024 // 256))
    return (
        b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n<x@example.org>: host mx said: 550 5.1.1 User unknown\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: news@example.org\r\nMessage-ID: <big@example.org>\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
        b'--m\r\nContent-Type: application/octet-stream; name="big.eml"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + payload.replace(b"\n", b"\r\n")
        + b"\r\n--m--\r\n\r\n--b--\r\n"
    )


def test_twenty_megabyte_attachment_in_bounded_time_and_memory() -> None:
    raw = _with_big_attachment(20)
    assert len(raw) > 20 * 1024 * 1024
    _check(raw, seconds=5.0)  # timed without tracemalloc, which slows every allocation
    tracemalloc.start()
    try:
        analyse(raw)
        _, analyse_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert analyse_peak < 5 * len(raw), f"analyse peaked at {analyse_peak / len(raw):.1f}x the message size"


def test_campaign_lookup_never_copies_a_big_attachment() -> None:
    raw = _with_big_attachment(20)
    tree = email.message_from_bytes(raw, policy=compat32)  # no key: every part gets looked at
    tracemalloc.start()
    try:
        assert find_campaign(tree, OPTIONS) == CampaignRef(None, "<big@example.org>")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(raw) // 4, f"find_campaign peaked at {peak / 2**20:.1f} MiB"
