"""Microsoft (Exchange Online / Office 365, Outlook.com, on-premises Exchange 2007+): the
enhanced codes and texts of https://learn.microsoft.com/exchange/mail-flow-best-practices/
non-delivery-reports-in-exchange-online, Exchange's RESOLVER/QUEUE/SMTPSEND codes, and the
Outlook.com block codes of https://sendersupport.olc.protection.outlook.com."""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".protection.outlook.com", ".outlook.com", ".hotmail.com", ".office365.com", ".live.com")
DOMAINS: tuple[str, ...] = (
    "outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.jp", "hotmail.co.uk", "hotmail.fr", "hotmail.es",
    "outlook.es", "live.com.mx",
)  # fmt: skip
SIGNS = ("resolver.adr.", "resolver.rst.", "queue.expired", "smtpsend.", "sendersupport.olc.protection.outlook.com",
         "outlook.com", "(s3150)")  # fmt: skip

# Exchange's own codes, named in the text whatever the status says
_EXCHANGE_CODES: tuple[tuple[str, Reason], ...] = (
    ("resolver.adr.recipnotfound", R.USERUNKNOWN),
    ("resolver.adr.recipientnotfound", R.USERUNKNOWN),
    ("resolver.adr.exrecipnotfound", R.USERUNKNOWN),
    ("resolver.adr.exrecipientnotfound", R.USERUNKNOWN),
    ("resolver.adr.reciplimit", R.TOOMANYCONN),
    ("resolver.adr.recipientlimit", R.TOOMANYCONN),
    ("resolver.adr.ambiguous", R.SYSTEMERROR),
    ("resolver.adr.badprimary", R.SYSTEMERROR),
    ("resolver.adr.invalidinsmtp", R.SYSTEMERROR),
    ("resolver.rst.recipsizelimit", R.EXCEEDLIMIT),
    ("resolver.rst.recipientsizelimit", R.EXCEEDLIMIT),
    ("resolver.rst.notauthorized", R.FILTERED),
    ("resolver.rst.authrequired", R.SECURITYERROR),
    ("queue.expired", R.EXPIRED),
    ("smtpsend.dns.nonexistentdomain", R.HOSTUNKNOWN),
    ("smtpsend.dns.mxloopback", R.NETWORKERROR),
)
# (status pattern, text, reason): Exchange Online's documented NDR codes
_STATUS_TEXTS: tuple[tuple[re.Pattern[str], str, Reason], ...] = (
    (re.compile(r"5\.2\.1\Z"), "mailbox cannot be accessed", R.SUSPEND),
    (re.compile(r"5\.2\.122\Z"), "exceeded their limit", R.TOOMANYCONN),
    (re.compile(r"5\.4\.1[46]\Z"), "hop count exceeded", R.NETWORKERROR),
    (re.compile(r"5\.7\.25\Z"), "reverse dns", R.REQUIREPTR),
    (re.compile(r"5\.7\.508\Z"), "exceeded permitted limits", R.TOOMANYCONN),
    (re.compile(r"5\.7\.510\Z"), "does not accept email over ipv6", R.NOTACCEPT),
    (re.compile(r"5\.7\.512\Z"), "rfc 5322", R.NOTCOMPLIANTRFC),
    (re.compile(r"5\.7\.50[1-3]\Z"), "spam abuse detected", R.SPAMDETECTED),
    (re.compile(r"5\.7\.50[457]\Z"), "access denied", R.FILTERED),
    (re.compile(r"5\.7\.6\d\d\Z"), "banned sending ip", R.BLOCKED),
    (re.compile(r"5\.7\.7\d\d\Z"), "tenant has exceeded threshold", R.TOOMANYCONN),
)
# Codes that say enough on their own
_STATUS: dict[str, Reason] = {
    "5.1.10": R.USERUNKNOWN,  # RESOLVER.ADR.RecipientNotFound
    "5.1.1": R.USERUNKNOWN,
    "5.1.351": R.USERUNKNOWN,  # the next hop returned "unknown recipient"
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
    "5.7.511": R.BLOCKED,
    "4.7.650": R.BADREPUTATION,
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
    for code, found in _EXCHANGE_CODES:
        if code in diagnostic:
            return found
    for pattern, text, found in _STATUS_TEXTS:
        if pattern.match(status) and text in diagnostic:
            return found
    return _STATUS.get(status)
