"""The engine over flufl.bounce's own samples (tests/corpus/flufl): a second corpus, with
labels by another project, that the engine was not built on.

flufl.bounce names a report's Original-Recipient where there is one, and both addresses
of an alias expansion ("zzzzz@shaft.coal.nl (expanded from: zzzzz@nfg.nl)"); bouncer names
the Final-Recipient, as RFC 3464 and the Sisimai labels do. Its labels are read as the
union over the detectors that list a file, and the floors below hold what bouncer finds
today (126 of 133 addresses, 8 others), so that a change that loses ground shows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from bouncer.analysis import Kind, analyse

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "flufl"


def _expected() -> dict[str, set[str]]:
    by_file: dict[str, set[str]] = defaultdict(set)
    for line in (CORPUS / "expected.jsonl").read_text().splitlines():
        row = json.loads(line)
        by_file[row["file"]] |= {address.lower() for address in row["recipients"]}
    return by_file


def test_flufl_samples_floor() -> None:
    expected = _expected()
    assert len(expected) == 115
    found = missed = extra = 0
    for name, addresses in expected.items():
        result = analyse((CORPUS / name).read_bytes())
        assert result.error is None, name
        got = {r.address for r in result.recipients}
        found += len(addresses & got)
        missed += len(addresses - got)
        if result.kind is not Kind.AUTOREPLY:  # an out-of-office names its sender, no failure
            extra += len(got - addresses)
    assert found + missed == 133
    assert found >= 126, f"found {found} of 133 addresses"
    assert extra <= 8, f"{extra} addresses flufl.bounce's labels do not name"
