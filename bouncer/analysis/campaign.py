"""Which campaign mail a report answers: the CRM tracker key and Message-ID of the returned original."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

from bouncer.analysis.original import message_id, original_parts, returned_originals, text_bytes
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
    for original in _originals(report):
        found_id = message_id(original)
        if first_id is None:
            first_id = found_id
        key = tracker_key_of(original, options.tracker_patterns)
        if key is not None:
            return CampaignRef(tracker_key=key, original_message_id=found_id or first_id)
    return CampaignRef(original_message_id=first_id)


def tracker_key_of(original: Message, patterns: Sequence[re.Pattern[str]] = ()) -> str | None:
    """The key one original message carries, by the CRM's order of authority.

    The header ``X-CampTrackID`` is what the CRM sets on purpose; ``List-Unsubscribe`` next;
    then links in the body (opt-out, tracked link, open pixel); then deployment patterns.
    When an original carries two different keys, the header's wins.
    """
    key = key_from_camptrackid(_header_values(original, "X-CampTrackID"))
    if key is None:
        key = key_from_list_unsubscribe(_header_values(original, "List-Unsubscribe"))
    if key is not None:
        return key
    bodies = [text_bytes(part) for part, _ in zip(original_parts(original), range(MAX_BODY_PARTS), strict=False)]
    for body in bodies:
        key = key_from_body(body)
        if key is not None:
            return key
    if patterns:
        headers = "\n".join(f"{name}: {value}" for name, value in original.items())
        texts = [headers, *(body.decode("utf-8", "replace") for body in bodies)]
        return key_from_patterns(patterns, texts)
    return None


def _originals(report: Message) -> Iterator[Message]:
    """Every returned original, then the messages attached to those (breadth first).

    An original may carry the campaign mail as an attached message in turn: a bounce of a
    bounce, or a forward that wraps the campaign mail. Inside an original only attached
    messages count, never text quoted in it.
    """
    level: list[Message] = []
    for found in returned_originals(report):  # lazily: the first copy usually has the key
        level.append(found.message)
        yield found.message
    for _ in range(MAX_NESTING - 1):
        inner: list[Message] = []
        for original in level:
            for found in returned_originals(original, inline=False):
                inner.append(found.message)
                yield found.message
        level = inner


def _header_values(msg: Message, name: str) -> list[str]:
    return [str(value) for value in msg.get_all(name, [])]
