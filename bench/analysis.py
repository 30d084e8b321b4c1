"""Benchmark the analysis engine on a corpus, beside the cost of merely parsing it.

Run (after ``pip install '.[bench]'``, which compiles the analysis engine where it can;
an editable install measures the plain Python sources, and the output says which)::

    python bench/analysis.py                      # the test corpus, 5 repeats
    python bench/analysis.py --repeat 10 --max-ms 100 PATH...

Measured in one process pinned to one core, on the same messages, all in one run:

- ``bouncer``      ``analyse(raw)``: parse, classify, recipients, reasons, campaign key;
- ``stdlib``       ``email.message_from_bytes(raw, policy=compat32)`` and every part decoded
                   with ``get_payload(decode=True)``: the floor any analysis has to pay;
- ``stdlib-default`` the same with ``policy.default`` (the modern API, slower);
- ``fastparse``    ``bouncer.analysis.fastparse.parse(raw)`` (the same compat32 tree, built with
                   C-speed string searches), bare and with every part decoded, beside the
                   bare stdlib compat32 parse;
- ``flufl.bounce`` compat32 parse plus ``flufl.bounce.all_failures`` (Mailman's detectors;
                   ``scan_message`` is the permanent half of the same work).

Each figure is the best of ``--repeat`` passes over the whole corpus (the least disturbed by
other load), timed in CPU time of this process, and the contenders take turns pass by pass:
on a shared machine the load changes from second to second, and timing one contender after
the other made their ratios swing by 2x from run to run. Then, per message: the slowest
analyse() times (best of the repeats) and the peak memory analyse() allocates (tracemalloc),
absolute and as a multiple of the message size. Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import gc
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from email import policy
from email.message import Message
from pathlib import Path

from bouncer.analysis import AnalysisOptions, analyse, engine_build, fastparse
from bouncer.analysis.campaign import find_campaign

ROOT = Path(__file__).resolve().parent.parent
_CORPUS_PLACES = (ROOT / "tests" / "corpus" / "sisimai", Path("/work/shared/corpus/sisimai"))
DEFAULT_CORPUS = next((place for place in _CORPUS_PLACES if place.is_dir()), _CORPUS_PLACES[0])


RATIO_FLOOR = 32 * 1024


def _synthetic() -> list[tuple[str, bytes]]:
    """Hostile inputs for the per-message checks (not the throughput figures)."""
    import base64

    big = base64.encodebytes(os.urandom(15 * 1024 * 1024)).replace(b"\n", b"\r\n")
    twenty_mb = (
        b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n<x@example.org>: 550 5.1.1 User unknown\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b'--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@example.org\r\nContent-Type: multipart/mixed; boundary="m"'
        b"\r\n\r\n--m\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + big
        + b"\r\n--m--\r\n--b--\r\n"
    )
    nested = b"From: a@example.org\r\n\r\nhi\r\n"
    for level in range(50):
        nested = (
            b'From: MAILER-DAEMON@example.org\r\nContent-Type: multipart/report; boundary="b%d"\r\n\r\n'
            b"--b%d\r\nContent-Type: message/rfc822\r\n\r\n" % (level, level) + nested + b"\r\n--b%d--\r\n" % level
        )
    headers = b"From: MAILER-DAEMON@example.org\r\n" + b"".join(
        b"X-H-%d: %s\r\n" % (n, b"v" * 60) for n in range(20000)
    )
    return [
        ("synthetic: 20 MB attachment", twenty_mb),
        ("synthetic: 50-deep rfc822", nested),
        ("synthetic: 20k headers", headers + b"\r\nx\r\n"),
    ]


def _messages(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        found.extend((str(f), f.read_bytes()) for f in files if not f.name.startswith(".") and f.suffix != ".jsonl")
    return found


def _decode_all(msg: Message) -> None:
    for part in msg.walk():
        if not part.is_multipart():
            part.get_payload(decode=True)


def stdlib_compat32(raw: bytes) -> None:
    _decode_all(email.message_from_bytes(raw, policy=policy.compat32))


def stdlib_compat32_bare(raw: bytes) -> None:
    email.message_from_bytes(raw, policy=policy.compat32)


def fastparse_bare(raw: bytes) -> None:
    fastparse.parse(raw)


def fastparse_decoded(raw: bytes) -> None:
    _decode_all(fastparse.parse(raw))


def stdlib_default(raw: bytes) -> None:
    _decode_all(email.message_from_bytes(raw, policy=policy.default))


def _flufl() -> Callable[[bytes], None] | None:
    try:
        from flufl.bounce import all_failures
    except ImportError:
        return None

    def flufl_bounce(raw: bytes) -> None:
        # Some of its detectors raise on odd input; the time spent still counts.
        with contextlib.suppress(Exception):
            all_failures(email.message_from_bytes(raw, policy=policy.compat32))

    return flufl_bounce


def bouncer(raw: bytes) -> None:
    analyse(raw)


def _best_passes(contenders: Sequence[Callable[[bytes], None]], raws: Sequence[bytes], repeat: int) -> list[float]:
    """The best pass of each contender, in CPU seconds; they run in turns, pass by pass."""
    best = [float("inf")] * len(contenders)
    for _ in range(repeat):
        for index, fn in enumerate(contenders):
            gc.collect()
            started = time.process_time()
            for raw in raws:
                fn(raw)
            best[index] = min(best[index], time.process_time() - started)
    return best


def _per_message_ms(raws: Sequence[bytes], repeat: int) -> list[float]:
    best = [float("inf")] * len(raws)
    for _ in range(repeat):
        for index, raw in enumerate(raws):
            started = time.perf_counter()
            analyse(raw)
            best[index] = min(best[index], (time.perf_counter() - started) * 1000)
    return best


def _peaks(raws: Sequence[bytes]) -> list[int]:
    peaks: list[int] = []
    tracemalloc.start()
    try:
        for raw in raws:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            analyse(raw)
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
    return peaks


def _pin_to_one_core(cpu: int | None) -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = cpu if cpu is not None else allowed[-1]
    os.sched_setaffinity(0, {chosen})
    return f"pinned to CPU {chosen} of {len(allowed)}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, help=f"message files or directories (default {DEFAULT_CORPUS})")
    parser.add_argument("--repeat", type=int, default=5, help="passes per contender; the best counts (default 5)")
    parser.add_argument("--max-ms", type=float, default=100.0, help="list messages analyse() takes longer on")
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the last allowed)")
    parser.add_argument("--synthetic", action="store_true", help="add hostile inputs to the per-message checks")
    parser.add_argument("--top", type=int, default=5, help="how many of the slowest messages to show")
    args = parser.parse_args(argv)

    paths = args.paths or [DEFAULT_CORPUS]
    messages = _messages(paths)
    if not messages:
        print(f"no messages under {', '.join(map(str, paths))}", file=sys.stderr)
        return 1
    names = [name for name, _ in messages]
    raws = [raw for _, raw in messages]
    total_bytes = sum(map(len, raws))
    print(f"{len(raws)} messages, {total_bytes / 1024:.0f} KiB, from {', '.join(map(str, paths))}")
    print(f"{_pin_to_one_core(args.cpu)}; best of {args.repeat} passes; Python {sys.version.split()[0]}")
    print(f"analysis engine: {engine_build()} (a regular install compiles it, an editable one does not: setup.py)")

    for raw in raws[:50]:  # warm up imports, regex compilation and caches
        analyse(raw)

    contenders: list[tuple[str, Callable[[bytes], None]]] = [
        ("bouncer analyse()", bouncer),
        ("stdlib compat32 parse+decode", stdlib_compat32),
        ("stdlib default parse+decode", stdlib_default),
        ("stdlib compat32 parse only", stdlib_compat32_bare),
        ("fastparse parse only", fastparse_bare),
        ("fastparse parse+decode", fastparse_decoded),
    ]
    flufl = _flufl()
    if flufl is not None:
        contenders.append(("flufl.bounce all_failures", flufl))
    else:
        print("flufl.bounce is not installed (pip install -e '.[bench]'): not compared")

    rates: dict[str, float] = {}
    print()
    print(f"{'':30} {'msg/s':>9} {'ms/msg':>8}")
    best = _best_passes([fn for _, fn in contenders], raws, args.repeat)
    for (label, _), seconds in zip(contenders, best, strict=True):
        rates[label] = len(raws) / seconds
        print(f"{label:30} {rates[label]:9.0f} {seconds / len(raws) * 1000:8.3f}")

    # The campaign lookup's share, on trees parsed beforehand (analyse() includes it above).
    trees = [email.message_from_bytes(raw, policy=policy.compat32) for raw in raws]
    options = AnalysisOptions()
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        for tree in trees:
            find_campaign(tree, options)
        best = min(best, time.perf_counter() - started)
    print(f"{'  of which find_campaign()':30} {len(trees) / best:9.0f} {best / len(trees) * 1000:8.3f}")
    del trees

    ours = rates["bouncer analyse()"]
    print()
    fast_bare = rates["fastparse parse only"] / rates["stdlib compat32 parse only"]
    fast_decoded = rates["fastparse parse+decode"] / rates["stdlib compat32 parse+decode"]
    print(f"fastparse / stdlib compat32: {fast_bare:5.2f}x bare, {fast_decoded:5.2f}x with every part decoded")
    for label, rate in rates.items():
        if label != "bouncer analyse()":
            print(f"bouncer / {label:30} {ours / rate:5.2f}x the speed")

    if args.synthetic:
        extra = _synthetic()
        names += [name for name, _ in extra]
        raws += [raw for _, raw in extra]
    per_message = _per_message_ms(raws, max(1, min(args.repeat, 3)))
    order = sorted(range(len(raws)), key=per_message.__getitem__, reverse=True)
    print()
    print(
        f"analyse() per message (best of {max(1, min(args.repeat, 3))}): median {statistics.median(per_message):.3f} ms"
    )
    for index in order[: args.top]:
        print(f"  {per_message[index]:8.2f} ms  {len(raws[index]):>9} B  {names[index]}")
    over = [index for index in order if per_message[index] > args.max_ms]
    print(f"messages over {args.max_ms:g} ms: {len(over)}")
    for index in over:
        print(f"  {per_message[index]:8.2f} ms  {names[index]}")

    peaks = _peaks(raws)
    worst = max(range(len(raws)), key=peaks.__getitem__)
    print()
    print(f"peak memory of one analyse(): {peaks[worst] / 1024:.0f} KiB ({names[worst]}, {len(raws[worst])} B)")
    # Below some size the fixed cost of a parse dominates; a ratio says something only above it.
    sized = [i for i in range(len(raws)) if len(raws[i]) >= RATIO_FLOOR]
    if sized:
        ratio = max(sized, key=lambda i: peaks[i] / len(raws[i]))
        print(
            f"largest peak / size (messages >= {RATIO_FLOOR // 1024} KiB): {peaks[ratio] / len(raws[ratio]):.1f}x "
            f"({names[ratio]}, {len(raws[ratio])} B)"
        )
    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
