"""GoDaddy (secureserver.net): replies carry an ``IBnnn`` code, https://x.co/rlbounce."""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".secureserver.net",)
DOMAINS: tuple[str, ...] = ()
SIGNS = ("x.co/rlbounce", "secureserver.net")

_CODE = re.compile(r"\bib(\d{3})\b")
_CODES: dict[str, Reason] = {
    "101": R.EXPIRED, "102": R.BLOCKED, "103": R.BLOCKED, "104": R.BLOCKED, "105": R.BLOCKED,
    "106": R.BLOCKED, "107": R.BLOCKED, "108": R.BLOCKED, "109": R.BLOCKED, "110": R.BLOCKED,
    "111": R.BLOCKED, "112": R.BLOCKED, "113": R.BLOCKED, "212": R.SPAMDETECTED, "401": R.BLOCKED,
    "501": R.REJECTED, "502": R.REJECTED, "504": R.REJECTED, "505": R.REJECTED, "506": R.REJECTED,
    "507": R.REJECTED, "508": R.AUTHFAILURE, "510": R.REJECTED, "512": R.SPAMDETECTED, "601": R.SPEEDING,
    "602": R.SPEEDING, "603": R.SPEEDING, "605": R.SPEEDING, "606": R.SPEEDING, "607": R.SPEEDING,
    "608": R.SPEEDING, "705": R.VIRUSDETECTED, "801": R.USERUNKNOWN, "802": R.USERUNKNOWN,
}  # fmt: skip


def reason(status: str, diagnostic: str) -> Reason | None:
    m = _CODE.search(diagnostic)
    if m:
        return _CODES.get(m.group(1))
    if "spamhaus" in diagnostic or "blocked using" in diagnostic:
        return R.BLOCKED
    return None
