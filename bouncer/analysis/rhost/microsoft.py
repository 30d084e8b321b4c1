"""Microsoft (Exchange Online / Office 365, Outlook.com): the enhanced codes and the
Outlook.com block codes documented at https://learn.microsoft.com/exchange/mail-flow-best-
practices/non-delivery-reports-in-exchange-online and https://sendersupport.olc.protection.outlook.com."""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".protection.outlook.com", ".outlook.com", ".hotmail.com", ".office365.com", ".live.com")
DOMAINS: tuple[str, ...] = (
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "outlook.jp",
    "hotmail.co.uk",
    "hotmail.fr",
)
SIGNS = ("resolver.adr.", "resolver.rst.", "sendersupport.olc.protection.outlook.com", "outlook.com", "(s3150)")

_STATUS: dict[str, Reason] = {
    "5.1.10": R.USERUNKNOWN,  # RESOLVER.ADR.RecipientNotFound
    "5.1.1": R.USERUNKNOWN,
    "5.1.351": R.USERUNKNOWN,
    "5.2.2": R.MAILBOXFULL,
    "5.2.3": R.EXCEEDLIMIT,
    "5.3.4": R.MESGTOOBIG,
    "5.4.312": R.NETWORKERROR,  # DNS query failed
    "5.4.316": R.EXPIRED,
    "4.4.316": R.EXPIRED,
    "5.7.509": R.AUTHFAILURE,  # DMARC reject
    "5.7.515": R.AUTHFAILURE,
    "5.7.23": R.AUTHFAILURE,
    "5.7.57": R.SECURITYERROR,
    "5.7.606": R.BLOCKED,  # banned sending IP
    "5.7.511": R.BLOCKED,
    "4.7.650": R.BADREPUTATION,
    "5.7.705": R.BLOCKED,
    "5.7.750": R.BLOCKED,
    "5.7.708": R.BLOCKED,
    "5.7.133": R.FILTERED,
    "5.7.134": R.FILTERED,
    "5.7.129": R.FILTERED,
}
_BLOCK_CODE = re.compile(r"\b(sc-00[1-4]|dy-00[1-2]|ou-00[1-2]|rp-00[1-3]|s3150|s3140)\b")
_BLOCK_REASON = {
    "sc-001": R.BADREPUTATION, "sc-002": R.BLOCKED, "sc-003": R.BLOCKED, "sc-004": R.BLOCKED,
    "dy-001": R.BLOCKED, "dy-002": R.BLOCKED, "ou-001": R.SPAMDETECTED, "ou-002": R.SPAMDETECTED,
    "rp-001": R.SPEEDING, "rp-002": R.SPEEDING, "rp-003": R.SPEEDING, "s3150": R.BLOCKED, "s3140": R.BLOCKED,
}  # fmt: skip


def reason(status: str, diagnostic: str) -> Reason | None:
    m = _BLOCK_CODE.search(diagnostic)
    if m:
        return _BLOCK_REASON[m.group(1)]
    if "recipientnotfound" in diagnostic or "recipnotfound" in diagnostic:
        return R.USERUNKNOWN
    if "resolver.rst.notauthorized" in diagnostic:
        return R.FILTERED
    return _STATUS.get(status)
