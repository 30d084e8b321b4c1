"""Mimecast: replies documented at https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".mimecast.com", ".mimecast-offshore.com")
DOMAINS: tuple[str, ...] = ()
SIGNS = ("mimecast",)

_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("spf sender invalid - envelope rejected", R.AUTHFAILURE),
    ("dkim sender invalid - envelope rejected", R.AUTHFAILURE),
    ("dmarc sender invalid - envelope rejected", R.AUTHFAILURE),
    ("local ct ip reputation", R.BADREPUTATION),
    ("internal resources are temporarily unavailable", R.BADREPUTATION),
    ("sender address blocked", R.BLOCKED),
    ("ip temporarily blacklisted", R.BLOCKED),
    ("maximum email size exceeded", R.MESGTOOBIG),
    ("mail loop detected", R.NETWORKERROR),
    ("open relay not allowed", R.NORELAYING),
    ("account inbounds disabled", R.NOTACCEPT),
    ("anti-spoofing policy", R.POLICYVIOLATION),
    ("content examination policy", R.POLICYVIOLATION),
    ("host network not allowed", R.POLICYVIOLATION),  # a geographical restriction policy
    ("administrative prohibition envelope blocked", R.REJECTED),
    ("envelope blocked", R.REJECTED),
    ("blocked senders", R.REJECTED),
    ("block policy for envelope from", R.REJECTED),
    ("incorrect authentication data", R.SECURITYERROR),
    ("this route requires", R.SECURITYERROR),
    ("unable to process", R.SYSTEMERROR),
    ("message ended early", R.SYSTEMERROR),
    ("account service is temporarily unavailable", R.TOOMANYCONN),
    ("exceeding outbound thread limit", R.TOOMANYCONN),
    ("invalid recipient", R.USERUNKNOWN),
    ("email rejected due to security policies", R.VIRUSDETECTED),  # virus or spam signature
)


def reason(status: str, diagnostic: str) -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    return None
