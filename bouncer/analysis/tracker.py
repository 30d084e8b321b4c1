"""Where the CRM (SuiteCRM / SinergiaCRM) writes a campaign tracker key into the mail it sends.

The key is 36 hex characters in 8-4-4-4-12 groups (SuiteCRM's ``create_guid()``: shaped
like a UUID, but not necessarily a valid RFC 4122 one). A campaign mail carries it in:

- the header ``X-CampTrackID: <key>``;
- ``List-Unsubscribe: <{site}index.php?entryPoint=removemeConfirmed&identifier=<key>>``;
- body links ``{site}index.php?entryPoint=removeme&identifier=<key>`` (opt-out),
  ``...entryPoint=campaign_trackerv2&track=<tracker id>&identifier=<key>`` (tracked link) and
  ``...entryPoint=image&identifier=<key>`` (open pixel); in HTML ``&`` is often ``&amp;``.

These functions read one *original* message's headers or decoded body. Deciding which part of
a report is the returned original is :mod:`bouncer.analysis.original`'s job: nothing here may
be applied to a report's own text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote_to_bytes

from bouncer.analysis.mime import qp_decode

KEY_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# The whole value of an X-CampTrackID header: just a key (tolerating angle brackets and spaces).
_CAMPTRACKID = re.compile(rf"\s*<?\s*({KEY_TEXT})\s*>?\s*")

# "&" as it may be written in a URL inside plain text or HTML.
_AMP = r"(?:&amp;|&#0*38;|&#[xX]0*26;|&)"
# A CRM entry point link, any parameters before ``identifier``; the key must be the whole
# identifier value, so that a longer value is never cut down to a key-shaped prefix.
_LINK_TEXT = (
    r"/index\.php\?entryPoint=(?:removemeConfirmed|removeme|campaign_trackerv2|image)"
    rf"(?:{_AMP}[A-Za-z0-9_]+=[^&\s\"'<>]*)*?{_AMP}identifier=(?P<key>{KEY_TEXT})(?![0-9A-Za-z_-])"
)
_LINK_STR = re.compile(_LINK_TEXT)
_LINK_BYTES = re.compile(_LINK_TEXT.encode("ascii"))


def _normal(key: str) -> str:
    # The CRM writes keys in lower case; an upper-cased copy is the same key.
    return key.lower()


def key_from_camptrackid(values: Iterable[str]) -> str | None:
    """The key in an ``X-CampTrackID`` header value, if the value is one."""
    for value in values:
        match = _CAMPTRACKID.fullmatch(value)
        if match:
            return _normal(match.group(1))
    return None


def key_from_list_unsubscribe(values: Iterable[str]) -> str | None:
    """The key in the CRM's ``List-Unsubscribe`` link."""
    for value in values:
        if "dentifier" not in value:
            continue
        match = _LINK_STR.search(re.sub(r"\s+", "", value))
        if match:
            return _normal(match.group("key"))
    return None


def key_from_body(data: bytes) -> str | None:
    """The key in the first CRM link of a decoded body (plain text or HTML).

    Also reads links whose quoted-printable encoding was left in place (a copy quoted without
    its Content-Transfer-Encoding header) and links percent-encoded inside a redirect wrapper.
    """
    plain = b"dentifier" in data
    if plain:
        match = _LINK_BYTES.search(data)
        if match:
            return _normal(match.group("key").decode("ascii"))
    # Quoted-printable left in place: every "=" of a link's query string is then "=3D".
    if b"=3D" in data or b"=3d" in data:
        unquoted = qp_decode(data)
        if unquoted != data and b"dentifier" in unquoted:
            match = _LINK_BYTES.search(unquoted)
            if match:
                return _normal(match.group("key").decode("ascii"))
    if plain and b"dentifier%3" in data:  # (never without "dentifier" itself)
        match = _LINK_BYTES.search(unquote_to_bytes(data))
        if match:
            return _normal(match.group("key").decode("ascii"))
    return None


def key_from_patterns(patterns: Sequence[re.Pattern[str]], texts: Iterable[str]) -> str | None:
    """The first ``key`` group any deployment-configured pattern finds in ``texts``."""
    if not patterns:
        return None
    for text in texts:
        for pattern in patterns:
            match = pattern.search(text)
            if match is None:
                continue
            try:
                key = match.group("key")
            except IndexError:  # a pattern without a "key" group finds nothing
                continue
            if key and key.strip():
                return key.strip()
    return None
