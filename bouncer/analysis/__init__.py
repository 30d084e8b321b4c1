"""The pure analysis core: raw message bytes in, an :class:`Analysis` out.

Nothing here knows of IMAP, databases or asyncio. ``analyse`` never raises: whatever it
cannot read becomes ``not_bounce`` with ``error`` saying why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bouncer.analysis import fastparse
from bouncer.analysis.campaign import find_campaign
from bouncer.analysis.dates import parse_date
from bouncer.analysis.finish import finish_recipient, kind_of
from bouncer.analysis.forwarded import forwarded_messages
from bouncer.analysis.mime import without_lone_crs
from bouncer.analysis.mta import dispatch
from bouncer.analysis.mta.base import Report
from bouncer.analysis.result import Analysis, Recipient, with_readable_text
from bouncer.analysis.taxonomy import Kind, Reason

PARSER_VERSION = "1.5.0"  # 1.5: replies quoting a report, gateways' reports, CR line ends (1.4: forwards)

# Bytes of a message that are parsed. A report, its delivery-status fields and the head of
# the returned original come first; what lies beyond (a big attachment of the original)
# says nothing more and would cost time and several times its size in memory.
MAX_INPUT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """Deployment-specific knobs: extra tracker-key regexes with a named group ``key``."""

    tracker_patterns: tuple[re.Pattern[str], ...] = ()


# Report kinds that answer a campaign mail: only these get a campaign lookup.
_CAMPAIGN_KINDS = frozenset({Kind.BOUNCE, Kind.DELAY, Kind.COMPLAINT, Kind.AUTOREPLY, Kind.DELIVERED})
# Reports a person's forward is taken for (see :mod:`.forwarded`).
_FORWARDED_KINDS = _CAMPAIGN_KINDS - {Kind.AUTOREPLY}


def engine_build() -> str:
    """How this install runs the engine: "compiled" (mypyc, by a regular install: setup.py)
    or "plain Python" (an editable install, or no C compiler at install time)."""
    return "compiled" if fastparse.__file__ is not None and not fastparse.__file__.endswith(".py") else "plain Python"


def analyse(raw: bytes, options: AnalysisOptions | None = None) -> Analysis:
    """Analyse one message. Never raises."""
    try:
        return with_readable_text(_analyse(raw, options or AnalysisOptions()))
    except RecursionError:
        return Analysis(kind=Kind.NOT_BOUNCE, error="the message is nested too deeply to read")
    except MemoryError:
        return Analysis(kind=Kind.NOT_BOUNCE, error="the message is too large to read")
    except Exception as exc:  # never let one bad message stop the caller
        return Analysis(kind=Kind.NOT_BOUNCE, error=f"could not analyse the message: {type(exc).__name__}: {exc}"[:300])


def _analyse(raw: bytes, options: AnalysisOptions, *, forwarded: bool = False) -> Analysis:
    """``forwarded``: ``raw`` is what a person's forward carries (a forward in it is not read)."""

    if not isinstance(raw, (bytes, bytearray, memoryview)):
        return Analysis(kind=Kind.NOT_BOUNCE, error="the input is not bytes")
    data = bytes(raw[:MAX_INPUT])
    if len(raw) > MAX_INPUT:
        data = data[: data.rfind(b"\n") + 1] or data  # end on a whole line
    if not data.strip():
        return Analysis(kind=Kind.NOT_BOUNCE, error="the message is empty")
    # without it, a report saved with CR line ends lost its reasons and its tracker key
    data = without_lone_crs(data)
    msg = fastparse.parse(data)  # the compat32 tree message_from_bytes builds, faster
    report = Report(msg)
    subject = report.header("Subject") or None
    message_id = report.header("Message-ID") or None
    from_address = report.header("From") or None
    if not forwarded:
        carried = _forwarded(report, options)
        if carried is not None:
            # The forward is the inbound message; what it says is the report's.
            return replace(
                carried,
                message_id=message_id,
                from_address=from_address,
                subject=subject,
                mail_system=f"{carried.mail_system} (forwarded)",
                forwarded=True,
            )
    decoded = dispatch(report)
    if decoded is None:
        return Analysis(kind=Kind.NOT_BOUNCE, message_id=message_id, from_address=from_address, subject=subject)
    arrival = parse_date(decoded.arrival_date)
    recipients = tuple(finish_recipient(found, decoded.reporting_mta, arrival) for found in decoded.recipients)
    kind = decoded.kind or kind_of(recipients)
    tracker_key = original_message_id = None
    if kind in _CAMPAIGN_KINDS:
        ref = find_campaign(msg, options)
        tracker_key, original_message_id = ref.tracker_key, ref.original_message_id
    return Analysis(
        kind=kind,
        recipients=recipients,
        tracker_key=tracker_key,
        original_message_id=original_message_id,
        feedback_type=decoded.feedback_type,
        message_id=message_id,
        from_address=from_address,
        subject=subject,
        date=parse_date(report.header("Date")),
        mail_system=decoded.mail_system,
    )


def _forwarded(report: Report, options: AnalysisOptions) -> Analysis | None:
    """The analysis of the report that a person forwarded in ``report``, if it forwards one.

    A forwarded campaign mail, person's mail or auto-reply leaves ``report`` a person's mail.
    """
    for inner in forwarded_messages(report):
        carried = _analyse(inner, options, forwarded=True)
        if carried.kind in _FORWARDED_KINDS:
            break
    else:
        return None
    if carried.tracker_key is None:  # the forward may attach the original the report returned
        ref = find_campaign(report.msg, options)
        original_message_id = carried.original_message_id or ref.original_message_id
        carried = replace(carried, tracker_key=ref.tracker_key, original_message_id=original_message_id)
    return carried


__all__ = ["PARSER_VERSION", "Analysis", "AnalysisOptions", "Kind", "Reason", "Recipient", "analyse", "engine_build"]
