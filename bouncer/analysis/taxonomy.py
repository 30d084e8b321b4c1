"""The reason taxonomy and the one rule that decides whether an address itself is bad.

Reason names follow Sisimai's taxonomy (see the corpus README), so results can be
compared with a widely used reference.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a message in a bounce or group inbox is."""

    BOUNCE = "bounce"  # a delivery failed for good
    DELAY = "delay"  # a warning: the sender's MTA is still trying
    COMPLAINT = "complaint"  # an RFC 5965 (ARF) feedback report
    AUTOREPLY = "autoreply"  # an RFC 3834 automatic reply, out-of-office
    DELIVERED = "delivered"  # a success notice
    NOT_BOUNCE = "not_bounce"  # a person's mail, a forward, anything else

    @property
    def is_failure_report(self) -> bool:
        """Bounces, delays and complaints are what a bounce account disposes of."""
        return self in (Kind.BOUNCE, Kind.DELAY, Kind.COMPLAINT)


class Reason(StrEnum):
    AUTHFAILURE = "authfailure"
    BADREPUTATION = "badreputation"
    BLOCKED = "blocked"
    CONTENTERROR = "contenterror"
    DELIVERED = "delivered"
    EXCEEDLIMIT = "exceedlimit"
    EXPIRED = "expired"
    FAILEDSTARTTLS = "failedstarttls"
    FEEDBACK = "feedback"
    FILTERED = "filtered"
    HASMOVED = "hasmoved"
    HOSTUNKNOWN = "hostunknown"
    MAILBOXFULL = "mailboxfull"
    MAILERERROR = "mailererror"
    MESGTOOBIG = "mesgtoobig"
    NETWORKERROR = "networkerror"
    NORELAYING = "norelaying"
    NOTACCEPT = "notaccept"
    NOTCOMPLIANTRFC = "notcompliantrfc"
    ONHOLD = "onhold"
    POLICYVIOLATION = "policyviolation"
    REJECTED = "rejected"
    REQUIREPTR = "requireptr"
    SECURITYERROR = "securityerror"
    SPAMDETECTED = "spamdetected"
    SPEEDING = "speeding"
    SUPPRESSED = "suppressed"
    SUSPEND = "suspend"
    SYNTAXERROR = "syntaxerror"
    SYSTEMERROR = "systemerror"
    SYSTEMFULL = "systemfull"
    TOOMANYCONN = "toomanyconn"
    UNDEFINED = "undefined"
    USERUNKNOWN = "userunknown"
    VACATION = "vacation"
    VIRUSDETECTED = "virusdetected"


# Reasons that say the recipient's address itself is bad. Everything else is either the
# sender's own problem (blocked, badreputation, authfailure, requireptr, ...) or passing.
ADDRESS_IS_BAD: frozenset[Reason] = frozenset({Reason.USERUNKNOWN, Reason.HOSTUNKNOWN, Reason.HASMOVED})


def is_hard(reason: Reason, status: str) -> bool:
    """True only when the address itself is bad.

    ``notaccept`` (null MX and alike) condemns the address only when the failure is
    permanent: a 5.x.x status, or no status at all.
    """
    if reason in ADDRESS_IS_BAD:
        return True
    if reason is Reason.NOTACCEPT:
        return not status or status.startswith("5")
    return False
