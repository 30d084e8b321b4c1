"""Which campaign mail a report answers: the CRM tracker key and Message-ID of the returned original."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

from bouncer.analysis import fastparse
from bouncer.analysis.original import PartWalks, may_return_copies, message_id, original_texts, returned_copies
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
    copies :func:`returned_copies` finds, in their order of trust, and the first copy that
    has a key wins. No key found means ``None``; nothing is guessed.
    """
    first_id: str | None = None
    walks = PartWalks()
    patterns = options.tracker_patterns
    for original, is_report in _originals(report, walks):
        heads = walks.heads(original)
        # A returned report (a bounce of a bounce) is not the campaign mail: its own text is
        # not read for links, only the original it returns in turn.
        key = _key_of(original, heads, patterns, walks, not is_report)
        if key is not None:
            return CampaignRef(tracker_key=key, original_message_id=message_id(original, heads) or first_id)
        if first_id is None and not is_report:
            first_id = message_id(original, heads)
            # With the Message-ID known, a copy without a key changes nothing (patterns read
            # the whole text, so with them every copy counts).
            walks.only_keys_matter = first_id is not None and not patterns
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
    walks = walks or PartWalks()
    return _key_of(original, walks.heads(original), patterns, walks, read_body)


def _key_of(
    original: Message,
    heads: dict[str, list[str]],
    patterns: Sequence[re.Pattern[str]],
    walks: PartWalks,
    read_body: bool,
) -> str | None:
    """:func:`tracker_key_of`, given the original's :func:`original_headers`."""
    values = heads.get("x-camptrackid")
    key = key_from_camptrackid(map(str, values)) if values else None
    if key is None:
        values = heads.get("list-unsubscribe")
        if values:
            key = key_from_list_unsubscribe(map(str, values))
    if key is not None or not read_body:
        return key
    bodies = original_texts(original, walks, MAX_BODY_PARTS)
    for body in bodies:
        key = key_from_body(body)
        if key is not None:
            return key
    if patterns:
        header_text = "\n".join(f"{name}: {value}" for name, value in fastparse.untyped(original).items())
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
    for found, _ in returned_copies(report, True, walks):  # lazily: the first copy usually has the key
        entry = (found, _is_report(found, walks.heads(found)))
        level.append(entry)
        yield entry
    for _ in range(MAX_NESTING - 1):
        inner: list[tuple[Message, bool]] = []
        for original, is_report in level:
            if not may_return_copies(original, is_report, walks):
                continue  # the usual original, a single text part: nothing attached to it
            for found, _ in returned_copies(original, is_report, walks):
                entry = (found, _is_report(found, walks.heads(found)))
                inner.append(entry)
                yield entry
        level = inner


def _is_report(msg: Message, heads: dict[str, list[str]]) -> bool:
    """Whether a message says by its structure or headers that a machine wrote it as a report."""
    values = heads.get("content-type")
    value = values[0] if values else None
    if value is None:
        ctype = msg.get_default_type()
    elif isinstance(value, str) and value.isascii():  # fastparse.content_type(msg), faster
        ctype = value.partition(";")[0].strip().lower()
    else:
        ctype = fastparse.content_type(msg)
    if ctype == "multipart/report":
        return True
    if "x-failed-recipients" in heads:
        return True
    # "auto-replied" is what bounces and auto-replies say; "auto-generated" is also what some
    # mass mailers put on newsletters, so it does not make a message a report.
    values = heads.get("auto-submitted")
    return values is not None and any(str(value).strip().lower().startswith("auto-replied") for value in values)
