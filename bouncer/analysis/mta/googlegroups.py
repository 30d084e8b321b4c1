"""Google Groups: a post refused because the group does not exist or the sender may not post.

Evidence: a Google mailer-daemon report whose text links to groups.google.com (or whose
original went to a googlegroups.com address). The failed recipient is the group; the reason
is ``rejected``: the sender, not the address, was refused.
"""

from __future__ import annotations

from bouncer.analysis.mta import generic
from bouncer.analysis.mta.base import Decoded, Report
from bouncer.analysis.taxonomy import Reason

NAME = "GoogleGroups"


def matches(report: Report) -> bool:
    if "google" not in report.from_:
        return False
    return "groups.google.com" in report.text[:20000] or "googlegroups.com" in report.header("X-Failed-Recipients")


def decode(report: Report) -> Decoded | None:
    recipients = generic.from_failed_recipients_header(report)
    if not recipients:
        return None
    for item in recipients:
        item.reason = Reason.REJECTED
        item.diagnostic = " ".join(report.text_before_original.split())[:1000]
    return Decoded(mail_system=NAME, recipients=recipients)
