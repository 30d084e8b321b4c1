"""Plain-text bounces of mail systems with no module of their own.

Evidence: the report looks like a bounce (an ``X-Failed-Recipients`` header, or a null
return path / mailer-daemon sender together with a bounce-like subject or text). Then the
recipients are the addresses that the text sets apart the way nearly every MTA does: an
address opening a line and followed by a colon (qmail, Postfix, Courier), an address alone
on an indented line (Exim, Gmail), or a Sendmail ``<address>... reason`` line. The text
that follows, up to a blank line, is the diagnostic.
"""

from __future__ import annotations

import re

from bouncer.analysis.mta.base import (
    ADDRESS_RE,
    AUTOREPLY_SUBJECT,
    CaseBlind,
    Decoded,
    Found,
    Report,
    clean_address,
    find_command,
)

NAME = "text"

_DAEMON_FROM = re.compile(
    r"mailer-daemon|postmaster|post_master|mail delivery|mail administrator|mailer_daemon|mdaemon|"
    r"delivery subsystem|delivery system|mail system|mail router|mailadmin"
)
BOUNCE_SUBJECT = CaseBlind(
    r"undeliver|undelivered|delivery (?:status|failure|failed|problem|notification|report|warning|error)|"
    r"returned mail|return(?:ed|ing)? to sender|mail failed|processing error|failure notice|mail delivery failed|"
    r"non[- ]?remis|unzustellbar|nondeliverable|"
    r"non[- ]?delivery|could not be delivered|could not send|delayed mail|mail failure|failed mail|"
    r"unable to deliver|delivery has failed|message not delivered|warning: message|bounce|rejected|"
    r"mail error|error sending|fehlgeschlagen|no se puede entregar|non recapitabile|配信|no entregado|"
    r"no se ha podido entregar|devuelto|entrega fallida|error de entrega|estado de entrega|non distribuibile|"
    r"não entregue|nao entregue|non délivré|non delivre|impossible de remettre|"
    r"退信|投递失败|发送失败|传输失败|無法投遞",
)
BOUNCE_TEXT = CaseBlind(
    r"could not be delivered|couldn't be delivered|delivery (?:has )?failed|permanent(?:ly)? (?:error|fatal|failed)|"
    r"undeliverable|was not delivered|wasn't able to deliver|unable to deliver|delivery to the following|"
    r"not be delivered|failed to deliver|returned to sender|following address(?:es)? failed|"
    r"following recipients? (?:failed|could not)|delivery problem|error occurred while|"
    r"message you sent|your message (?:to|was|could)|transcript of session|giving up|"
    r"requested action not taken|invalid user address|error message below|could not deliver|"
    r"has been returned|has been postponed|failed (?:recipients?|addresses)|no such user|user unknown|"
    r"no se ha podido entregar|no se pudo entregar|no pudo ser entregado|no ha podido ser entregado|"
    r"n'a pas pu être remis|konnte nicht zugestellt werden|non è stato possibile recapitare|"
    r"无法发送|无法送达|无法投递|投递失败|無法傳送",
)

STRONG_TEXT = CaseBlind(
    r"could not be delivered to:|following addresses had permanent fatal errors|this is a permanent error|"
    r"delivery to the following recipients? failed|unable to deliver (?:your )?message to the following|"
    r"the following recipients? (?:could not be reached|returned permanent errors)|"
    r"message could not be delivered|your message was not delivered|delivery has failed to these recipients|"
    r"i'm afraid i wasn't able to deliver your message|there was an error delivering your mail to",
)
_PERSONAL_SUBJECT = re.compile(r"^\s*(?:re|fw|fwd|aw|wg|tr|sv|vs|rv|enc)\s*(?:\[\d+\])?\s*:", re.I)

# "<user@host>:" or "user@host:" at a line start, then the reason on the same or next lines
_COLON_LINE = re.compile(r"^[ \t]*[\"<]?(" + ADDRESS_RE.pattern + r")[\">]?[ \t]*:[ \t]*(.*)$", re.M)
# an address alone on its (usually indented) line, possibly in <> or quotes, after a quoted
# display name, or with a trailing comment
_ALONE_LINE = re.compile(
    r"^[ \t]*(?:\"[^\"\n]{0,100}\"[ \t]*)?[<\"]?(" + ADDRESS_RE.pattern + r")[>\"]?[ \t]*(?:\([^)\n]{0,200}\))?[ \t]*$",
    re.M,
)
# Sendmail: "550 5.1.1 <user@host>... User unknown" / "<user@host>... User unknown"
_SENDMAIL_LINE = re.compile(
    r"^[ \t]*(?:\d{3}[ -](?:\d\.\d{1,3}\.\d{1,3} )?)?<?(" + ADDRESS_RE.pattern + r")>?[ \t]*\.\.\.[ \t]*(.*)$", re.M
)


# "Recipient: <user@host>", "Could not be delivered to: <user@host>", "* user@host",
# "user@host [User unknown]", "user@host on <date>", "RCPT TO:<user@host>"
_LABELLED_LINE = re.compile(
    r"^[ \t]*(?:\*|-|\d+\.|(?:original-|final-)?recipient(?: address)?:|(?:could not be )?delivered to:|"
    r"address:|rcpt to:|failed recipient:|recipient address:|intended recipient:|unknown user:|destinataire:)?[ \t]*"
    r"[\"<]?(" + ADDRESS_RE.pattern + r")[\">]?[ \t]*(?:\[(.{0,200})\]|on [A-Z][a-z]{2},.*|\((.{0,200})\)|,)?[ \t]*$",
    re.M | re.I,
)


def looks_like_bounce(report: Report) -> bool:
    if report.has_header("X-Failed-Recipients"):
        return True
    if AUTOREPLY_SUBJECT.search(report.subject.strip()):
        return False
    daemon = report.return_path_null or bool(_DAEMON_FROM.search(report.from_))
    if not daemon:
        # No sign in the envelope: only a bounce's own unmistakable wording will do, and
        # never in a reply or a forward written by a person.
        if _PERSONAL_SUBJECT.match(report.subject):
            return False
        text = report.text_before_original[:6000]
        if STRONG_TEXT.search(text):
            return True
        # ...or a subject and a text that both say bounce, from a gateway or an appliance
        # that writes its reports from an ordinary mailbox: not from a person's mail client
        # ("Delivery problem: the parcel could not be delivered")
        says_bounce = BOUNCE_SUBJECT.search(report.subject) and BOUNCE_TEXT.search(text)
        return bool(says_bounce) and not _from_mail_client(report)
    return bool(BOUNCE_SUBJECT.search(report.subject) or BOUNCE_TEXT.search(report.text_before_original[:8000]))


_CLIENT_MAILER = re.compile(r"outlook|apple mail|iphone mail|thunderbird|android|mail for windows", re.I)


def _from_mail_client(report: Report) -> bool:
    """Whether a person's mail program wrote the message: it says so in User-Agent or
    X-Mailer, or it composed text and HTML alternatives, as clients do and reports do not."""
    if report.has_header("user-agent") or _CLIENT_MAILER.search(report.raw_headers.get("x-mailer", "")):
        return True
    return report.raw_headers.get("content-type", "").lower().lstrip().startswith("multipart/alternative")


def matches(report: Report) -> bool:
    return looks_like_bounce(report)


def _ignored(report: Report, names: tuple[str, ...] = ("From", "To", "Reply-To", "Sender", "Return-Path")) -> set[str]:
    """Addresses of the report's own parties: never recipients that failed."""
    ignored = set()
    for name in names:
        a = clean_address(report.header(name))
        if a:
            ignored.add(a)
    return ignored


def paragraph_after(text: str, start: int, limit: int = 1500) -> str:
    end = text.find("\n\n", start)
    chunk = text[start : end if end >= 0 else len(text)]
    return chunk[:limit]


# "There was an error delivering your mail to <user@host>." and alike
_SENTENCE = re.compile(
    r"(?:deliver(?:ing|ed|y)?|sen[dt]|send(?:ing)?)\b[^\n<]{0,60}?\bto:?[ \t]*<(" + ADDRESS_RE.pattern + r")>", re.I
)


# "user@host  Invalid Address, ERROR_CODE :550 ..." (Zoho and alike): an address opening a
# line, its reason after it on the same line
_LEADING_LINE = re.compile(r"^[ \t]*<?(" + ADDRESS_RE.pattern + r")>?[ \t]+(\S.{5,})$", re.M)

# Mailbox names of a site's staff and robots, never a campaign recipient (last resort only).
_ROLE_ADDRESS = re.compile(r"(?:postmaster|mailer-daemon|abuse|support|help)@", re.I)
_HEADER_LINE = re.compile(r"[ \t>*]*(?:to|cc|bcc|from|reply-to|sender|return-path|envelope-to)[ \t]*:", re.I)

# A text report naming more recipients than this is read for its first ones only: the bound
# keeps any input's cost in check (a campaign mail has one recipient per message).
MAX_RECIPIENTS = 100

# Message-IDs look like addresses: never take one for a recipient.
_MESSAGE_ID_LINE = re.compile(
    r"^[ \t>]*(?:message-id|in-reply-to|references|content-id)[ \t]*:[ \t]*<([^<>\s]+)>", re.M | re.I
)


_MESSAGE_ID_NAMES = ("message-id", "in-reply-to", "references", "content-id")


def _message_ids(text: str) -> set[str]:
    """The ids of the text's Message-ID-like header lines, lower-cased."""
    # Most texts name none and skip the pattern. Only for ASCII text: case-blind matching
    # also takes some non-ASCII letters for ASCII ones ("\u017f" for "s").
    if text.isascii():
        lowered = text.lower()
        for name in _MESSAGE_ID_NAMES:  # a plain loop: any() over a generator costs more
            if name in lowered:
                break
        else:
            return set()
    return {m.group(1).lower() for m in _MESSAGE_ID_LINE.finditer(text)}


_WORDS = re.compile(r"[a-z]{3,}")


def _remote_reply_before(text: str, at: int) -> str:
    """The remote server's reply in a Sendmail session transcript ("<<< 550 ...") when it is
    the line just before ``at``, followed by a space; else ''."""
    if at < 6:
        return ""
    start = text.rfind("\n", 0, at - 1) + 1
    line = text[start : at - 1].strip()
    if line.startswith("<<< ") and line[4:5] in ("4", "5"):
        return line[4:] + " "
    return ""


# Tried in this order; the first that names a recipient wins. Each match lies within one
# line (no part of them crosses a line break) and holds an address, so an "@": they are
# searched in the lines that have one only, which gives the same matches at a fraction of
# the cost of trying the case-blind patterns at every position of the text.
_RECIPIENT_PATTERNS = (_SENDMAIL_LINE, _COLON_LINE, _ALONE_LINE, _LABELLED_LINE, _SENTENCE, _LEADING_LINE)
_LINE_ANCHORED = frozenset({_SENDMAIL_LINE, _COLON_LINE, _ALONE_LINE, _LABELLED_LINE, _LEADING_LINE})


def _lines_with_at(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line of ``text`` holding an "@", its line break excluded."""
    spans: list[tuple[int, int]] = []
    at = text.find("@")
    while at >= 0:
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        if end < 0:
            spans.append((start, len(text)))
            break
        spans.append((start, end))
        at = text.find("@", end)
    return spans


def scan(report: Report, text: str) -> list[Found]:
    # An address the text sets apart as a recipient counts even when it is the report's own
    # To: (people do mail themselves); only the sender of the report is never a recipient.
    ignored = _ignored(report, ("From", "Sender"))
    message_ids = _message_ids(text)
    ignored |= message_ids
    found: dict[str, Found] = {}

    def add(address: str, diagnostic: str) -> None:
        if len(found) >= MAX_RECIPIENTS:
            return
        a = clean_address(address)
        if not a or a in ignored or (a.startswith(("mailer-daemon@", "postmaster@")) and len(found) > 0):
            return
        known = found.get(a)
        if known is not None and known.diagnostic:
            return  # named again: the first mention's words stand
        diag = " ".join(diagnostic.split())
        if known is not None:
            known.diagnostic = diag
            return
        found[a] = Found(address=a, action="failed", diagnostic=diag)

    sendmail_style = False
    lines = _lines_with_at(text)
    for pattern in _RECIPIENT_PATTERNS:
        if pattern in _LINE_ANCHORED:
            # a pattern opening with ^ matches a line (a span without line break) at its start
            # or nowhere: one match attempt, not one at every position of the line
            matches = [m for start, end in lines if (m := pattern.match(text, start, end)) is not None]
        else:
            matches = [m for start, end in lines for m in pattern.finditer(text, start, end)]
        sendmail_style = pattern is _SENDMAIL_LINE
        for i, m in enumerate(matches):
            # a recipient's words run from its line to the next recipient or a blank line
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            if pattern is _SENDMAIL_LINE:
                # Sendmail states each recipient's failure on its own line; the lines after it
                # belong to the session transcript of others. The remote server's reply
                # ("<<< 501 ...") on the line right before it is what that failure answers.
                add(m.group(1), _remote_reply_before(text, m.start()) + m.group(0))
                continue
            segment = text[m.start() : min(end, m.start() + 1500)]
            cut = segment.find("\n\n", len(m.group(0)))
            add(m.group(1), segment[:cut] if cut > 0 else segment)
        if found:
            break
    if not found:
        # Last resort: every address the text names that is none of the report's parties;
        # the whole text is the diagnostic.
        ignored = _ignored(report) | message_ids
        whole = text[:3000]
        named = [m for m in ADDRESS_RE.finditer(text, 0, 20000) if not _ROLE_ADDRESS.match(m.group(0))]
        # An address on a header-like line ("To: ...") is the original's party, which a
        # summary of the original names ahead of the failed recipient; it counts only when
        # the text names no other address.
        outside = [m for m in named if not _HEADER_LINE.match(text, text.rfind("\n", 0, m.start()) + 1)]
        for m in outside or named:
            add(m.group(0), whole)
    whole = " ".join(text.split())[:2000]
    for item in found.values():
        if len(found) == 1 or not item.diagnostic:
            # Many formats put the reason before the address list, or after a heading:
            # with one recipient, the whole report text is its diagnostic.
            # words of its own besides its address? Then the text is not merely borrowed
            item.borrowed = not _WORDS.search(item.diagnostic.lower().replace(item.address, " "))
            item.diagnostic = whole
        item.command = find_command(item.diagnostic)
        if not item.command and sendmail_style:
            item.command = "RCPT"  # Sendmail's "<addr>... reason" line answers RCPT TO
    return list(found.values())


def from_failed_recipients_header(report: Report) -> list[Found]:
    """Recipients named by Exim's X-Failed-Recipients header, the whole text as diagnostic."""
    failed = report.header("X-Failed-Recipients")
    found: list[Found] = []
    if failed:
        diag = " ".join(report.text_before_original.split())[:2000]
        for piece in failed.split(","):
            a = clean_address(piece)
            if a and all(f.address != a for f in found):
                found.append(
                    Found(address=a, action="failed", diagnostic=diag, command=find_command(diag), borrowed=True)
                )
    return found


_TO_LINE = re.compile(r"^To:[ \t]*(.+(?:\n[ \t]+.+)*)", re.M | re.I)


def from_original_to(report: Report) -> list[Found]:
    """A report that names no recipient at all: the one To: address of the returned
    original (never a guess among several), attached or quoted after the report's text."""
    headers = report.original_headers_text or report.text[len(report.text_before_original) :][:8000]
    m = _TO_LINE.search(headers)
    if not m:
        return []
    addresses = {clean_address(piece) for piece in m.group(1).split(",")} - {""}
    if len(addresses) != 1:
        return []
    # the report's own text (before the original) is about this one recipient, whose address
    # it did not repeat: it is the diagnostic
    diagnostic = " ".join(report.text_before_original.split())[:2000]
    return [
        Found(
            address=addresses.pop(),
            action="failed",
            diagnostic=diagnostic,
            command=find_command(diagnostic),
            borrowed=True,
        )
    ]


def decode(report: Report) -> Decoded | None:
    recipients = (
        scan(report, report.text_before_original) or from_failed_recipients_header(report) or from_original_to(report)
    )
    if not recipients:
        return None
    return Decoded(mail_system=NAME, recipients=recipients)
