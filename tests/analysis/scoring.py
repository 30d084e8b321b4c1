"""In-process scoring of the engine against a labelled corpus, with the same rules as
/work/shared/tools/score_parse.py (recipient, reason, hard, status and kind agreement)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bouncer.analysis import analyse

SOFT_KINDS = {"bounce", "delay"}
KIND_OF_REASON = {"feedback": {"complaint"}, "vacation": {"autoreply"}, "delivered": {"delivered"}}


@dataclass(frozen=True)
class Score:
    rows: int
    recipients: float
    reason: float
    hard: float
    status: float
    kind: float
    extra_recipients: int
    negatives_ok: int
    negatives: int
    missing_messages: int
    misses: tuple[str, ...]


def score_corpus(root: Path) -> Score:
    expected: dict[str, list[dict[str, object]]] = {}
    for line in (root / "expected.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            expected.setdefault(str(row["file"]), []).append(row)
    c: Counter[str] = Counter()
    misses: list[str] = []
    for name, rows in expected.items():
        path = root / name
        if not path.is_file():
            c["missing_messages"] += 1
            continue
        got = analyse(path.read_bytes()).to_contract(name)
        recips = {r["address"].lower(): r for r in got["recipients"]}
        c["extra_recipients"] += len(set(recips) - {str(r["recipient"]).lower() for r in rows})
        for row in rows:
            c["rows"] += 1
            want_kinds = KIND_OF_REASON.get(str(row["reason"]), SOFT_KINDS)
            c["kind_ok"] += got["kind"] in want_kinds
            r = recips.get(str(row["recipient"]).lower())
            if r is None:
                misses.append(f"{name}: {row['recipient']} not found")
                continue
            c["recipient_ok"] += 1
            c["reason_ok"] += r["reason"] == row["reason"]
            c["hard_ok"] += bool(r["hard"]) == bool(row["hardbounce"])
            if row["status"]:
                c["status_rows"] += 1
                c["status_ok"] += r["status"] == row["status"]
            if r["reason"] != row["reason"]:
                misses.append(f"{name}: reason {r['reason']} != {row['reason']}")
    negatives = sorted((root / "not-bounce").glob("*.eml"))
    for path in negatives:
        got = analyse(path.read_bytes()).to_contract(path.name)
        failed = [r for r in got["recipients"] if (r["action"] or "failed") == "failed"]
        c["negatives_ok"] += got["kind"] not in SOFT_KINDS and not failed

    def pct(ok: str, n: str) -> float:
        return 100.0 * c[ok] / c[n] if c[n] else 0.0

    return Score(
        rows=c["rows"],
        recipients=pct("recipient_ok", "rows"),
        reason=pct("reason_ok", "rows"),
        hard=pct("hard_ok", "rows"),
        status=pct("status_ok", "status_rows"),
        kind=pct("kind_ok", "rows"),
        extra_recipients=c["extra_recipients"],
        negatives_ok=c["negatives_ok"],
        negatives=len(negatives),
        missing_messages=c["missing_messages"],
        misses=tuple(misses),
    )
