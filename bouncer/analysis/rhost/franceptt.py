"""Orange and La Poste (France): replies end with a code such as ``LPN007_416`` or
``OFR005_505`` (also written ``[416]``) whose last three digits name the problem."""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".orange.fr", ".wanadoo.fr", ".laposte.net", ".francetelecom.fr")
DOMAINS: tuple[str, ...] = ("orange.fr", "wanadoo.fr", "laposte.net")
SIGNS = ("lpn0", "ofr0", "ofr_", "lpnaaa_", "wanadoo", "orange.fr")

_CODE = re.compile(r"\b(?:lpn|ofr|lpnaaa|ofraaa)\d*_(\d{3})\b|\[(\d{3})\]")
_CODES: dict[str, Reason] = {
    "100": R.BLOCKED, "101": R.BLOCKED, "102": R.BLOCKED, "103": R.BLOCKED, "104": R.BLOCKED,
    "105": R.BLOCKED, "106": R.BLOCKED, "107": R.BLOCKED, "108": R.BLOCKED, "109": R.BLOCKED,
    "201": R.BLOCKED, "202": R.BLOCKED, "305": R.SECURITYERROR, "401": R.BLOCKED, "402": R.SECURITYERROR,
    "403": R.REJECTED, "405": R.REJECTED, "415": R.REJECTED, "416": R.USERUNKNOWN, "417": R.MAILBOXFULL,
    "418": R.USERUNKNOWN, "420": R.SUSPEND, "421": R.REJECTED, "423": R.SYSTEMERROR, "424": R.SYSTEMERROR,
    "425": R.REJECTED, "426": R.SUSPEND, "429": R.SYSTEMERROR, "430": R.SYSTEMERROR, "431": R.SYSTEMERROR,
    "505": R.SYSTEMERROR, "506": R.SPAMDETECTED, "510": R.BLOCKED, "513": R.SYSTEMERROR,
    "514": R.MESGTOOBIG, "515": R.SYSTEMERROR, "516": R.SYSTEMERROR, "517": R.SYSTEMERROR,
    "519": R.SYSTEMERROR, "520": R.SYSTEMERROR, "521": R.SYSTEMERROR, "522": R.SYSTEMERROR,
    "524": R.SYSTEMERROR, "525": R.SYSTEMERROR, "526": R.SYSTEMERROR, "527": R.SYSTEMERROR,
    "528": R.SYSTEMERROR, "529": R.SYSTEMERROR, "530": R.SYSTEMERROR, "531": R.SYSTEMERROR,
    "999": R.BLOCKED,
}  # fmt: skip


def reason(status: str, diagnostic: str) -> Reason | None:
    m = _CODE.search(diagnostic)
    if m:
        return _CODES.get(m.group(1) or m.group(2))
    return None
