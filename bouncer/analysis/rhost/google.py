"""Google (Gmail, Google Workspace): https://support.google.com/a/answer/3726730 lists the
SMTP replies; each carries a sentence that names the problem."""

from __future__ import annotations

from bouncer.analysis.taxonomy import Reason

R = Reason
HOSTS = (".google.com", ".googlemail.com", ".gmail.com")
DOMAINS: tuple[str, ...] = ("gmail.com", "googlemail.com")
SIGNS = (
    "support.google.com/mail",
    "- gsmtp",
    "google tried to deliver your message",
    "dns type 'mx' lookup of",
    "your message wasn't delivered to",
)

_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("the email account that you tried to reach does not exist", R.USERUNKNOWN),
    ("because the address couldn't be found", R.USERUNKNOWN),
    ("the email account that you tried to reach is disabled", R.SUSPEND),
    ("the email account that you tried to reach is inactive", R.SUSPEND),
    ("the email account that you tried to reach is over quota", R.MAILBOXFULL),
    ("the recipient's inbox is out of storage space", R.MAILBOXFULL),
    ("receiving mail at a rate that prevents additional messages", R.SPEEDING),
    ("receiving mail too quickly", R.SPEEDING),
    ("has exceeded the daily limit", R.SPEEDING),
    ("the ip address sending this message does not have a ptr record", R.REQUIREPTR),
    ("the sending ip does not match the ip address of the hostname", R.REQUIREPTR),
    ("this message is not rfc 5322 compliant", R.NOTCOMPLIANTRFC),
    ("rfcmessagenoncompliant", R.NOTCOMPLIANTRFC),
    ("has been blocked for spam", R.SPAMDETECTED),
    ("likely unsolicited mail", R.SPAMDETECTED),
    ("very low reputation", R.BADREPUTATION),
    ("has been rate limited due to ip reputation", R.BADREPUTATION),
    ("unusual rate of unsolicited mail", R.BLOCKED),
    ("dmarc policy", R.AUTHFAILURE),
    ("unauthenticated email", R.AUTHFAILURE),
    ("spf", R.AUTHFAILURE),
    ("dkim", R.AUTHFAILURE),
    ("message exceeded", R.MESGTOOBIG),
    ("size limit", R.MESGTOOBIG),
    ("virus", R.VIRUSDETECTED),
    ("blocked because its content", R.SPAMDETECTED),
    ("did not accept our requests to connect", R.EXPIRED),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    if "dns error" in diagnostic and ("nxdomain" in diagnostic or "domain name not found" in diagnostic):
        return R.HOSTUNKNOWN if status.startswith("5") else R.NETWORKERROR
    return None
