"""Local delivery agents: when the last hop is a program writing to the mailbox (mail.local,
procmail, maildrop, Dovecot LDA/LMTP, vpopmail), its own message decides: it knows whether
the user exists and whether the mailbox is full, whatever the status says."""

from __future__ import annotations

import re

from bouncer.analysis.taxonomy import Reason

R = Reason

_AGENT = re.compile(
    r"\b(?:mail\.local|procmail|maildrop|dovecot|lda\(|lmtp\(|vdelivermail|deliver\(|local delivery)", re.I
)
_WORDS: tuple[tuple[re.Pattern[str], Reason], ...] = (
    # the agent failing to write names the user too ("couldn't create ...: no such user")
    (re.compile(r"couldn't create|can't create|permission denied|cannot open", re.I), R.MAILERERROR),
    (
        re.compile(r"unknown user|user unknown|no such user|invalid user|user does not exist|unknown mailbox", re.I),
        R.USERUNKNOWN,
    ),
    (
        re.compile(r"quota exceeded|mailbox is full|over quota|disk quota|mailbox full|not enough disk space", re.I),
        R.MAILBOXFULL,
    ),
)


AGENT_WORDS = (
    "mail.local", "procmail", "maildrop", "vdelivermail", "lda(", "lmtp(", "deliver(", "dovecot", "local deliv",
)  # fmt: skip


def _names_an_agent(lowered: str) -> bool:
    """Whether the text holds one of AGENT_WORDS (a test keeps the two in step). They rule
    out nearly every diagnostic before the (case-blind, so slow) regex runs; those holding
    "mail" or "(" are only searched for in texts holding it, a search apiece saved."""
    return (
        ("mail" in lowered and ("mail.local" in lowered or "procmail" in lowered or "maildrop" in lowered
                                or "vdelivermail" in lowered))
        or ("(" in lowered and ("lda(" in lowered or "lmtp(" in lowered or "deliver(" in lowered))
        or "dovecot" in lowered
        or "local deliv" in lowered
    )  # fmt: skip


def reason_from_agent(diagnostic: str, lowered: str | None = None) -> Reason | None:
    """``lowered``: ``diagnostic.lower()``, when the caller has it already."""
    if lowered is None:
        lowered = diagnostic.lower()
    if not _names_an_agent(lowered) or not _AGENT.search(diagnostic):
        return None
    for pattern, reason in _WORDS:
        if pattern.search(diagnostic):
            return reason
    return None
