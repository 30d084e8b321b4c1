"""au by KDDI (ezweb.ne.jp, au.com): its MX answers "550 <address>: User unknown" for a
missing mailbox but "550 : User unknown" (no address) when the recipient's own filter
refused the sender."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".ezweb.ne.jp", ".au.com")
DOMAINS = ("ezweb.ne.jp", "au.com")
SIGNS: tuple[str, ...] = ()


def reason(status: str, diagnostic: str) -> Reason | None:
    if "550 : user unknown" in diagnostic:
        return R.FILTERED
    if ">: user unknown" in diagnostic:
        return R.USERUNKNOWN
    return None
