"""Which campaign mail a report answers: the CRM tracker key and Message-ID of the returned original."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

from bouncer.analysis import fastparse
from bouncer.analysis.original import PartWalks, header_values, message_id, original_texts, returned_originals
from bouncer.analysis.tracker import (
    key_from_body,
    key_from_camptrackid,
    key_from_list_unsubscribe,
    key_from_patterns,
)

if TYPE_CHECKING:
    from bouncer.analysis import AnalysisOptions

# How many originals deep we follow an original that itself returns one (a bounce of a bounce,
# a forward that wraps the campaign mail as an attachment).
MAX_NESTING = 3
# Text parts of one original we read for links.
MAX_BODY_PARTS = 30
_KEY_HEADERS = frozenset({"x-camptrackid", "list-unsubscribe"})
_REPORT_HEADERS = frozenset({"x-failed-recipients", "auto-submitted"})


@dataclass(frozen=True, slots=True)
class CampaignRef:
    tracker_key: str | None = None
    original_message_id: str | None = None


def find_campaign(report: Message, options: AnalysisOptions) -> CampaignRef:
    """Look for the returned original inside ``report`` (a compat32 tree) and read its key.

    Only the returned original counts, never the report's own text: the key is read from the
    copies :func:`returned_originals` finds, in their order of trust, and the first copy that
    has a key wins. No key found means ``None``; nothing is guessed.
    """
    first_id: str | None = None
    walks = PartWalks()
    for original, is_report in _originals(report, walks):
        # A returned report (a bounce of a bounce) is not the campaign mail: its own text is
        # not read for links, only the original it returns in turn.
        key = tracker_key_of(original, options.tracker_patterns, walks, read_body=not is_report)
        if key is not None:
            return CampaignRef(tracker_key=key, original_message_id=message_id(original) or first_id)
        if first_id is None and not is_report:
            first_id = message_id(original)
    return CampaignRef(original_message_id=first_id)


def tracker_key_of(
    original: Message,
    patterns: Sequence[re.Pattern[str]] = (),
    walks: PartWalks | None = None,
    *,
    read_body: bool = True,
) -> str | None:
    """The key one original message carries, by the CRM's order of authority.

    The header ``X-CampTrackID`` is what the CRM sets on purpose; ``List-Unsubscribe`` next;
    then links in the body (opt-out, tracked link, open pixel); then deployment patterns.
    When an original carries two different keys, the header's wins.
    """
    headers = header_values(original, _KEY_HEADERS)
    key = key_from_camptrackid(headers.get("x-camptrackid", ()))
    if key is None:
        key = key_from_list_unsubscribe(headers.get("list-unsubscribe", ()))
    if key is not None or not read_body:
        return key
    bodies = [body for body, _ in zip(original_texts(original, walks=walks), range(MAX_BODY_PARTS), strict=False)]
    for body in bodies:
        key = key_from_body(body)
        if key is not None:
            return key
    if patterns:
        header_text = "\n".join(f"{name}: {value}" for name, value in original.items())
        texts = [header_text, *(body.decode("utf-8", "replace") for body in bodies)]
        return key_from_patterns(patterns, texts)
    return None


def _originals(report: Message, walks: PartWalks) -> Iterator[tuple[Message, bool]]:
    """Every returned original, then the messages attached to those (breadth first).

    An original may carry the campaign mail as an attached message in turn: a bounce of a
    bounce, or a forward that wraps the campaign mail. Inside an original only attached
    messages count, not text quoted in it, unless the original is itself a report (then its
    inline copy is a returned original like any other). Each comes with whether it is a report.
    """
    level: list[tuple[Message, bool]] = []
    for found in returned_originals(report, walks=walks):  # lazily: the first copy usually has the key
        entry = (found.message, _is_report(found.message))
        level.append(entry)
        yield entry
    for _ in range(MAX_NESTING - 1):
        inner: list[tuple[Message, bool]] = []
        for original, is_report in level:
            for found in returned_originals(original, inline=is_report, walks=walks):
                entry = (found.message, _is_report(found.message))
                inner.append(entry)
                yield entry
        level = inner


def _is_report(msg: Message) -> bool:
    """Whether a message says by its structure or headers that a machine wrote it as a report."""
    if fastparse.content_type(msg) == "multipart/report":  # get_content_type(), faster
        return True
    headers = header_values(msg, _REPORT_HEADERS)
    if headers.get("x-failed-recipients"):
        return True
    # "auto-replied" is what bounces and auto-replies say; "auto-generated" is also what some
    # mass mailers put on newsletters, so it does not make a message a report.
    return any(value.strip().lower().startswith("auto-replied") for value in headers.get("auto-submitted", ()))
