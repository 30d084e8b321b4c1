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


_AGENT_WORDS = (
    "mail.local",
    "procmail",
    "maildrop",
    "dovecot",
    "lda(",
    "lmtp(",
    "vdelivermail",
    "deliver(",
    "local deliv",
)


def reason_from_agent(diagnostic: str, lowered: str | None = None) -> Reason | None:
    """``lowered``: ``diagnostic.lower()``, when the caller has it already."""
    if lowered is None:
        lowered = diagnostic.lower()
    # a plain loop: any() over a generator costs a frame resumption per word, and the words
    # rule out nearly every diagnostic before the (case-blind, so slow) regex runs
    for word in _AGENT_WORDS:
        if word in lowered:
            break
    else:
        return None
    if not _AGENT.search(diagnostic):
        return None
    for pattern, reason in _WORDS:
        if pattern.search(diagnostic):
            return reason
    return None
