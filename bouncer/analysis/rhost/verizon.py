"""Verizon Wireless's MMS/SMS gateways (vzwpix.com, vtext.com): "Message could not be
delivered to mobile. Error: No valid recipients for this MM" when the number has no
subscriber behind it."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".vzwpix.com", ".vtext.com")
DOMAINS = ("vzwpix.com", "vtext.com")
SIGNS = ("could not be delivered to mobile",)


def reason(status: str, diagnostic: str) -> Reason | None:
    if "no valid recipients for this mm" in diagnostic:
        return R.USERUNKNOWN
    return None
