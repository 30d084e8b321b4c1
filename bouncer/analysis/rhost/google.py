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

# Google's documented reply texts (https://support.google.com/a/answer/3726730), the more
# specific before the more general.
_TEXTS: tuple[tuple[str, Reason], ...] = (
    ("the email account that you tried to reach does not exist", R.USERUNKNOWN),
    ("because the address couldn't be found", R.USERUNKNOWN),
    ("account that you tried to reach is disabled", R.SUSPEND),
    ("account that you tried to reach is inactive", R.SUSPEND),
    ("inbox is out of storage space", R.MAILBOXFULL),
    ("account that you tried to reach is over quota", R.MAILBOXFULL),
    ("email quota exceeded", R.MAILBOXFULL),
    ("rate that prevents additional messages from being delivered", R.SPEEDING),
    ("is receiving mail too quickly", R.SPEEDING),
    ("relay limit exceeded", R.SPEEDING),
    ("daily sending quota exceeded", R.SPEEDING),
    ("daily user sending limit exceeded", R.SPEEDING),
    ("this mail has been rate limited", R.SPEEDING),
    ("the spf record of the sending domain", R.AUTHFAILURE),
    ("senders to authenticate", R.AUTHFAILURE),
    ("has an spf record with a hard fail policy", R.AUTHFAILURE),
    ("fails to pass spf checks", R.AUTHFAILURE),
    ("dmarc policy", R.AUTHFAILURE),
    ("fails to pass authentication checks", R.AUTHFAILURE),
    ("does not have authentication information", R.AUTHFAILURE),
    ("aligned with either the authenticated spf or dkim", R.AUTHFAILURE),
    ("very low reputation", R.BADREPUTATION),
    ("rate limited due to ip reputation", R.BADREPUTATION),
    ("ip not in whitelist for rcpt domain", R.BLOCKED),
    ("unusual rate of unsolicited mail", R.BLOCKED),
    ("an unusual rate of mail", R.BLOCKED),
    ("helo/ehlo argument is invalid", R.BLOCKED),
    ("empty helo/ehlo argument not allowed", R.BLOCKED),
    ("exceeded google's message size limits", R.MESGTOOBIG),
    ("exceeds google's message size limit", R.MESGTOOBIG),
    ("header size limit", R.EXCEEDLIMIT),
    ("bytes per individual header size", R.EXCEEDLIMIT),
    ("limit attachments", R.EXCEEDLIMIT),
    ("connection expired", R.EXPIRED),
    ("timeout - closing connection", R.EXPIRED),
    ("did not accept our requests to connect", R.EXPIRED),
    ("must issue a starttls command first", R.FAILEDSTARTTLS),
    ("tls required for rcpt domain", R.FAILEDSTARTTLS),
    ("senders to use tls/ssl", R.FAILEDSTARTTLS),
    ("message exceeded 50 hops", R.NETWORKERROR),
    ("mail relay denied", R.NORELAYING),
    ("invalid credentials for relay", R.NORELAYING),
    ("is not authorized to send email directly to our servers", R.NORELAYING),
    ("missing a valid address in the from: header", R.NOTCOMPLIANTRFC),
    ("multiple addresses in from: header", R.NOTCOMPLIANTRFC),
    ("is not rfc 5322 compliant", R.NOTCOMPLIANTRFC),
    ("missing a valid message-id", R.NOTCOMPLIANTRFC),
    ("unicode character in a disallowed header", R.NOTCOMPLIANTRFC),
    ("encoded-word syntax is not permitted", R.NOTCOMPLIANTRFC),
    ("is not a valid rfc 5321 address", R.NOTCOMPLIANTRFC),
    ("mail message is malformed", R.NOTCOMPLIANTRFC),
    ("rfcmessagenoncompliant", R.NOTCOMPLIANTRFC),
    ("illegal attachment on your message", R.POLICYVIOLATION),
    ("content presents a potential security issue", R.POLICYVIOLATION),
    ("has a policy that prohibited", R.POLICYVIOLATION),
    ("sending messages with the same message-id", R.POLICYVIOLATION),
    ("mail sending denied", R.REJECTED),
    ("does not have a ptr record", R.REQUIREPTR),
    ("have a ptr record, or the ptr record", R.REQUIREPTR),
    ("does not match the ip address of the hostname", R.REQUIREPTR),
    ("sending guidelines regarding ptr records", R.REQUIREPTR),
    ("username and password not accepted", R.SECURITYERROR),
    ("application-specific password required", R.SECURITYERROR),
    ("authentication required", R.SECURITYERROR),
    ("nature of the content or the links within", R.SPAMDETECTED),
    ("likely unsolicited mail", R.SPAMDETECTED),
    ("has been blocked for spam", R.SPAMDETECTED),
    ("too many recipients", R.TOOMANYCONN),
    ("temporary system problem", R.SYSTEMERROR),
    ("server busy", R.SYSTEMERROR),
    ("virus", R.VIRUSDETECTED),
)


def reason(status: str, diagnostic: str) -> Reason | None:
    for text, found in _TEXTS:
        if text in diagnostic:
            return found
    if "dns error" in diagnostic and ("nxdomain" in diagnostic or "domain name not found" in diagnostic):
        return R.HOSTUNKNOWN if status.startswith("5") else R.NETWORKERROR
    return None
