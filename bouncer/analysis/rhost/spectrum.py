"""Spectrum (Charter): ``AUP#I-nnnn`` / ``AUP#O-nnnn`` codes,
https://www.spectrumbusiness.net/support/internet/understanding-email-error-codes."""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".charter.net", ".spectrum.net", ".rr.com")
DOMAINS = ("charter.net", "spectrum.net")
SIGNS = ("spectrum.net/", "spectrumbusiness.net/")

_CODE = re.compile(r"aup#[a-z-]*(\d{4})")
# (first, last, reason): the documented code ranges
_RANGES: tuple[tuple[int, int, Reason], ...] = (
    (1000, 1000, R.BLOCKED),
    (1010, 1080, R.REJECTED),
    (1090, 1090, R.SYSTEMERROR),
    (1100, 1150, R.REQUIREPTR),
    (1160, 1190, R.POLICYVIOLATION),
    (1200, 1250, R.BLOCKED),
    (1260, 1260, R.NETWORKERROR),
    (1300, 1340, R.TOOMANYCONN),
    (1350, 1490, R.SPEEDING),
    (1500, 1520, R.REJECTED),
    (1530, 1530, R.MESGTOOBIG),
    (1540, 1550, R.SPEEDING),
    (1560, 1560, R.POLICYVIOLATION),
    (1580, 1580, R.SPEEDING),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    m = _CODE.search(diagnostic)
    if not m:
        return None
    code = int(m.group(1))
    for first, last, found in _RANGES:
        if first <= code <= last:
            return found
    return None
