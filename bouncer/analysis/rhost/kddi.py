"""au by KDDI (ezweb.ne.jp, au.com): its MX answers "550 <address>: User unknown" for a
missing mailbox but "550 : User unknown" (no address) when the recipient's own filter
refused the sender. Its own notice "Each of the following recipients was rejected by a remote
mail server." names no reply at all: the recipient's reception filter refused the mail."""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".ezweb.ne.jp", ".au.com")
DOMAINS = ("ezweb.ne.jp", "au.com")
SIGNS: tuple[str, ...] = ()
_REPLY = re.compile(r"[45](?<![\d.][45])\d\d[ -]")


def reason(status: str, diagnostic: str) -> Reason | None:
    if "550 : user unknown" in diagnostic:
        return R.FILTERED
    if "each of the following recipients was rejected by a remote mail server" in diagnostic and not _REPLY.search(
        diagnostic
    ):
        return R.FILTERED  # the notice alone, no server reply quoted after it
    if ">: user unknown" in diagnostic:
        return R.USERUNKNOWN
    return None
