"""The reason tables and the hard/soft rule."""

from __future__ import annotations

import random
import re
from itertools import pairwise
from pathlib import Path

import pytest

from bouncer.analysis.finish import DIAGNOSTIC_LIMIT, squeeze
from bouncer.analysis.reasons import Evidence, classify
from bouncer.analysis.reasons.lda import AGENT_WORDS, _names_an_agent, reason_from_agent
from bouncer.analysis.reasons.phrases import EXCLUDERS, MATCH_LIMIT, MATCHERS, _guard, _Table, normalise, says
from bouncer.analysis.reasons.status import (
    _PLAIN_STATUS,
    _STATUS_IN_TEXT,
    _search_status,
    find_reply_code,
    find_status,
    prefer,
    pseudo_status,
    reason_of_status,
)
from bouncer.analysis.rhost import PROVIDERS, _provider_by_signs, reason_from_provider
from bouncer.analysis.taxonomy import Reason, is_hard

R = Reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("5.1.1", R.USERUNKNOWN),
        ("5.1.2", R.HOSTUNKNOWN),
        ("5.1.6", R.HASMOVED),
        ("5.1.10", R.NOTACCEPT),
        ("4.2.2", R.MAILBOXFULL),
        ("5.3.4", R.MESGTOOBIG),
        ("4.4.7", R.EXPIRED),
        ("5.7.26", R.AUTHFAILURE),
        ("5.7.25", R.REQUIREPTR),
        ("5.0.0", None),
    ],
)
def test_status_code_table(status: str, reason: Reason | None) -> None:
    assert reason_of_status(status) is reason


def test_status_and_reply_code_are_found_in_text() -> None:
    assert find_status("550 5.1.1 <a@b.example>... User unknown") == "5.1.1"
    assert find_status("host 192.0.2.1 said: 550 #5.1.1 bad address") == "5.1.1"
    assert find_status("554 4.4.7 Message expired <421 4.4.2 Connection timed out>") == "4.4.2"
    assert find_status("relay 10.1.2.3 version 2.1.0") == ""
    assert find_reply_code("host said: 552-5.2.2 full") == "552"
    assert find_reply_code("no code here 1234") == ""


def test_the_remote_servers_code_refines_a_generic_report() -> None:
    assert prefer("5.0.0", "5.1.1", "550") == "5.1.1"
    assert prefer("4.4.7", "4.7.1", "450") == "4.7.1"
    assert prefer("5.0.0", "4.2.2", "") == "5.0.0"  # another class without the reply's support: the report's
    assert prefer("4.5.0", "5.5.0", "550") == "5.5.0"  # the server's reply and status agree against the report
    assert prefer("", "5.2.2", "") == "5.2.2"


def test_pseudo_status_follows_the_reason_when_the_report_has_none() -> None:
    assert pseudo_status(R.USERUNKNOWN, temporary=False) == "5.0.911"
    assert pseudo_status(R.MAILBOXFULL, temporary=True) == "4.0.922"
    assert pseudo_status(R.USERUNKNOWN, temporary=True) == "5.0.911"  # never a passing unknown user
    assert pseudo_status(R.FILTERED, temporary=False) == "5.0.910"
    assert pseudo_status(R.FILTERED, temporary=True) == "4.0.924"  # a passing filter has its own number
    assert pseudo_status(R.EXPIRED, temporary=False) == "5.0.947"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("552 5.2.2 Mailbox full", R.MAILBOXFULL),
        ("554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org", R.BLOCKED),
        ("550 5.7.26 Unauthenticated email from example.com is not accepted due to DMARC policy", R.AUTHFAILURE),
        ("421 4.7.0 Please try again slower", R.SPEEDING),
        ("452 4.3.2 Connection rate limit exceeded", R.TOOMANYCONN),
        ("554 Relay access denied", R.NORELAYING),
        ("550 Message rejected as spam", R.SPAMDETECTED),
        ("550 Virus detected in message", R.VIRUSDETECTED),
    ],
)
def test_phrase_tables(text: str, reason: Reason) -> None:
    assert says(reason, normalise(text))


def test_exclusions_keep_a_recipient_rejection_from_looking_like_a_sender_one() -> None:
    assert not says(R.REJECTED, normalise("550 <a@b.example>: Recipient address rejected: User unknown"))
    assert says(R.REJECTED, normalise("553 5.1.8 Sender address rejected: Domain not found"))


def test_classifier_uses_the_command_to_tell_unknown_user_from_content_filter() -> None:
    text = "550 Unknown user reader@example.org"
    assert classify(Evidence(status="5.0.0", diagnostic=text, command="RCPT")) is R.USERUNKNOWN
    assert classify(Evidence(status="5.0.0", diagnostic=text, command="DATA")) is R.FILTERED


def test_classifier_falls_back_by_action_and_text() -> None:
    assert classify(Evidence(status="4.0.0", diagnostic="", action="delayed")) is R.EXPIRED
    assert classify(Evidence(status="5.0.0", diagnostic="something odd happened")) is R.ONHOLD
    assert classify(Evidence(status="", diagnostic="")) is R.UNDEFINED
    assert classify(Evidence(status="2.0.0", diagnostic="250 OK")) is R.DELIVERED
    assert classify(Evidence(status="5.7.1", diagnostic="550 5.7.1 Access denied", command="MAIL")) is R.REJECTED
    assert classify(Evidence(status="5.7.1", diagnostic="554 5.7.1 [C14] go elsewhere", command="EHLO")) is R.BLOCKED


def test_provider_tables_read_documented_codes() -> None:
    assert (
        reason_from_provider("mx.example.mail.protection.outlook.com", "5.1.10", "recipient not found") is R.USERUNKNOWN
    )
    assert reason_from_provider("", "5.5.0", "550 5.5.0 invalid recipient. lpn007_416") is R.USERUNKNOWN
    assert (
        reason_from_provider(
            "gmail-smtp-in.l.google.com", "5.2.1", "the email account that you tried to reach is disabled"
        )
        is R.SUSPEND
    )
    assert reason_from_provider("mx.example.org", "5.1.1", "550 5.1.1 user unknown") is None


def test_local_delivery_agent_words() -> None:
    assert reason_from_agent("mail.local: unknown user: reader") is R.USERUNKNOWN
    assert reason_from_agent("procmail: Quota exceeded while writing") is R.MAILBOXFULL
    assert reason_from_agent("550 unknown user") is None


@pytest.mark.parametrize(
    ("reason", "status", "hard"),
    [
        (R.USERUNKNOWN, "5.1.1", True),
        (R.HOSTUNKNOWN, "5.0.912", True),
        (R.HASMOVED, "5.1.6", True),
        (R.NOTACCEPT, "5.1.10", True),
        (R.NOTACCEPT, "", True),
        (R.NOTACCEPT, "4.3.2", False),
        (R.BLOCKED, "5.7.1", False),
        (R.BADREPUTATION, "5.7.1", False),
        (R.AUTHFAILURE, "5.7.26", False),
        (R.REQUIREPTR, "5.7.25", False),
        (R.SPEEDING, "4.7.0", False),
        (R.MAILBOXFULL, "5.2.2", False),
        (R.EXPIRED, "4.4.7", False),
    ],
)
def test_hard_only_when_the_address_itself_is_bad(reason: Reason, status: str, hard: bool) -> None:
    assert is_hard(reason, status) is hard


@pytest.mark.parametrize(
    ("remote", "domain", "diagnostic", "reason"),
    [
        ("mx.cox.net", "", "550 5.1.0 sender rejected. aup#cxsndr", R.AUTHFAILURE),
        ("", "cox.net", "554 aup#ipbl0001 blocked", R.BLOCKED),
        ("", "charter.net", "550 5.1.0 sender rejected. aup#in-1310", R.TOOMANYCONN),
        ("eu-smtp-inbound-1.mimecast.com", "", "554 host network not allowed", R.POLICYVIOLATION),
        ("", "", "550 invalid recipient - https://community.mimecast.com/docs", R.USERUNKNOWN),
        ("mfsmax.docomo.ne.jp", "", "550 unknown user x@docomo.ne.jp (in reply to end of data command)", R.REJECTED),
        (
            "",
            "vtext.com",
            "message could not be delivered to mobile. error: no valid recipients for this mm",
            R.USERUNKNOWN,
        ),
        (
            "omr-m01.mx.aol.com",
            "",
            "name service error for name=x.example type=mx: malformed or unexpected name server reply",
            R.NOTACCEPT,
        ),
    ],
)
def test_provider_tables_by_host_domain_or_sign(remote: str, domain: str, diagnostic: str, reason: Reason) -> None:
    assert reason_from_provider(remote, "5.0.0", diagnostic, domain) is reason


def test_kddi_tells_a_missing_mailbox_from_a_recipients_filter() -> None:
    assert reason_from_provider("", "5.0.0", "550 <x@ezweb.ne.jp>: user unknown", "ezweb.ne.jp") is R.USERUNKNOWN
    assert reason_from_provider("", "5.0.0", "550 : user unknown", "ezweb.ne.jp") is R.FILTERED
    notice = "each of the following recipients was rejected by a remote mail server."
    assert reason_from_provider("", "", f"<x@ezweb.ne.jp> {notice}", "ezweb.ne.jp") is R.FILTERED
    # with the server's reply quoted after the notice, the reply decides
    quoted = f"{notice} <<< 550 <x@ezweb.ne.jp>... user unknown"
    assert reason_from_provider("", "", quoted, "ezweb.ne.jp") is not R.FILTERED


def test_amazon_ses_refusing_an_unverified_sender_identity_is_norelaying() -> None:
    text = (
        "554 Message rejected: Email address is not verified. "
        "The following identities failed the check in region EU-WEST-1: a@example.com"
    )
    assert classify(Evidence(status="5.0.0", diagnostic=text, reply_code="554")) is R.NORELAYING


def test_apple_and_messagelabs_sentences() -> None:
    assert (
        reason_from_provider("mx01.mail.icloud.com", "5.1.6", "550 5.1.6 recipient no longer on server") is R.HASMOVED
    )
    assert reason_from_provider("cluster1.eu.messagelabs.com", "5.0.0", "550 no such user") is R.USERUNKNOWN


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason"),
    [
        ("5.7.509", "550 5.7.509 access denied, sending domain does not pass dmarc verification", R.AUTHFAILURE),
        ("5.7.606", "550 5.7.606 access denied, banned sending ip [192.0.2.1]", R.BLOCKED),
        ("5.2.2", "552 5.2.2 mailbox full", R.MAILBOXFULL),
        ("5.0.0", "550 5.2.3 resolver.rst.recipsizelimit; message too large for this recipient", R.EXCEEDLIMIT),
        ("4.4.7", "450 4.4.7 queue.expired; message expired", R.EXPIRED),
        ("5.7.1", "550 5.7.1 unfortunately, messages from [192.0.2.1] weren't sent (s3150)", R.BLOCKED),
    ],
)
def test_exchange_online_codes(status: str, diagnostic: str, reason: Reason) -> None:
    assert reason_from_provider("x.mail.protection.outlook.com", status, diagnostic) is reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("550 5.1.1 Usuario desconocido", R.USERUNKNOWN),
        ("552 El buzón está lleno", R.MAILBOXFULL),
        ("550 Benutzer unbekannt", R.USERUNKNOWN),
        ("452 Boîte aux lettres pleine", R.MAILBOXFULL),
        ("550 El dominio no existe", R.HOSTUNKNOWN),
    ],
)
def test_phrases_in_other_languages(text: str, reason: Reason) -> None:
    assert says(reason, normalise(text))


_FIRST_TWO_WORDS = {
    phrase: " ".join(re.findall("[a-z]+", phrase)[:2])
    for table in (*MATCHERS.values(), *EXCLUDERS.values())
    for phrase in table.plain
}


def _said_slowly(text: str) -> set[Reason]:
    """What a text says by the phrase tables' plain definition: a reason's plain phrase is in
    the text and its first two words stand side by side in it (one-word phrases: the word is
    one of the text's), or one of its regular expressions matches; and none of its
    exceptions holds the same way. Every phrase and every pattern is tried."""
    if not text:
        return set()
    words = re.findall("[a-z]+", text)
    keys = set(words) | {f"{a} {b}" for a, b in pairwise(words)}

    def holds(table: _Table) -> bool:
        for phrase in table.plain:
            first_two = _FIRST_TWO_WORDS[phrase]
            if (not first_two or first_two in keys) and phrase in text:
                return True
        return any(pattern.search(text) for _, pattern in table.patterns)

    return {
        reason
        for reason, table in MATCHERS.items()
        if holds(table) and not (reason in EXCLUDERS and holds(EXCLUDERS[reason]))
    }


def _phrase_texts() -> list[str]:
    phrases = [p for table in (*MATCHERS.values(), *EXCLUDERS.values()) for p in table.plain]
    texts = [v for p in phrases for v in (p, f"550 {p}.", f"x{p}", f"{p}x", f"<{p}>", p.replace(" ", "-"))]
    draw = random.Random(3463)
    # pieces of phrases side by side: near misses, phrases across others, words repeated
    texts += [" ".join(draw.choice(phrases)[: draw.randint(2, 40)] for _ in range(4)) for _ in range(1500)]
    for path in sorted(Path(__file__).parent.parent.joinpath("corpus").rglob("*.eml"))[::8]:
        message = path.read_bytes().decode("utf-8", "replace")
        texts += [normalise(message[i : i + 600]) for i in range(0, min(len(message), 6000), 400)]
    return [*texts, "", " ", "é", "user", "user unknown", "superuser unknown", "user unknownness"]


def test_the_phrase_index_finds_what_every_phrase_tried_finds() -> None:
    differ = [
        (text, reason)
        for text in _phrase_texts()
        for reason in (_said_slowly(text) ^ {r for r in Reason if says(r, text)})
    ]
    assert differ == []


@pytest.mark.parametrize(
    "diagnostic",
    ["550 5.1.1 User\tUnknown", "x " * 1500, "Ab\u00a0C\u2003 İSTANBUL " * 200, "x" * 1999 + " y", " a\n b "],
)
def test_finish_passes_what_normalise_gives(diagnostic: str) -> None:
    # finish_recipient hands classify its squeezed diagnostic's lower-case head as the
    # normalised text: that must be what normalise() makes of it
    squeezed = " ".join(diagnostic.split())[:DIAGNOSTIC_LIMIT]
    assert DIAGNOSTIC_LIMIT <= 2 * MATCH_LIMIT
    assert normalise(squeezed) == squeezed.lower()[:MATCH_LIMIT]


@pytest.mark.parametrize(
    ("pattern", "guard"),
    [
        ("user .{1,200} was not found", " was not found"),
        ("non-?existent user", "existent user"),
        ("ab*cd", "cd"),
        ("abc+d", "ab"),
        ("abc{2}d", "ab"),
        ("ab{,3}?c", "a"),
        ("abc*+d", "ab"),
        ("x{y}zw", "x{y}zw"),  # no quantifier: literal braces
        (r"mail\.163\.com", "mail.163.com"),
        (r"\bno\d+ such", " such"),
        (r"(?:a|b(c)[)(])xyz(?:q)?r", "xyz"),
        (r"[]a]bc[^]]de", "bc"),
        (r"[\]]bc", "bc"),
        ("user|account", ""),
        ("(?i)user unknown", ""),
        ("a.b", "a"),
        ("^abc$", "abc"),
    ],
)
def test_a_pattern_is_guarded_by_characters_all_its_matches_hold(pattern: str, guard: str) -> None:
    assert _guard(pattern) == guard


def test_status_codes_are_found_where_the_plain_pattern_finds_them() -> None:
    # find_status's pattern opens at the dot, for speed; the plain way to write it:
    plain = re.compile(r"([245])(?<![\d.][245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
    draw = random.Random(3463)
    pieces = [*"2454501.- \n\tav", "version ", " v", "550", "5.1.1", "4.4.7", "1.2.3.4", "5.0.0", "..", "5.7.10"]
    texts = ["".join(draw.choice(pieces) for _ in range(draw.randint(1, 14))) for _ in range(20_000)]
    texts += ["x" * 7996 + "5.1.1", "x" * 7995 + " 5.1.1"]
    for text in texts:
        found = [(m.start() + 1, m.groups()) for m in plain.finditer(text, 0, 8000)]
        assert [(m.start(), m.groups()) for m in _STATUS_IN_TEXT.finditer(text, 0, 8000)] == found, text


def test_a_bare_status_is_looked_up_as_the_search_finds_it() -> None:
    draw = random.Random(3465)
    texts = list(_PLAIN_STATUS)
    texts += [f"{draw.choice('0123456789')}.{draw.randint(0, 1200)}.{draw.randint(0, 1200)}" for _ in range(5000)]
    texts += [
        f"{c}.{s}.{d}"
        for c in "245"
        for s in ("0", "00", "01", "07", "08", "8", "10", "007")
        for d in ("0", "00", "01", "5", "100", "1000")
    ]
    padded = [
        draw.choice(["", " ", "\t", "\n ", "\x1c", "\u3000"]) + t + draw.choice(["", " ", "\n", "\r\n"]) for t in texts
    ]
    texts += [*padded, " " * 7995 + "5.1.1", " " * 7996 + "5.1.1", "5.1.1" + " " * 8000, "5.1.1.", "5.1.1.1", "x5.1.1"]
    for text in texts:
        assert find_status(text) == _search_status(text), repr(text)


@pytest.mark.parametrize(
    "text",
    ["", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\x1cb", "a\x85b", "\u3000",
     "é ü", "a\x00b", "a\u200bb", "550 5.1.1 <x@example.org>: user unknown"],
)  # fmt: skip
def test_squeeze_is_split_and_join(text: str) -> None:
    assert squeeze(text) == " ".join(text.split())


def test_the_gated_sign_search_finds_the_first_provider_whose_sign_is_there() -> None:
    signs = [(sign, module) for module in PROVIDERS for sign in module.SIGNS]
    draw = random.Random(3464)
    pieces = [s for s, _ in signs] + [".com", ".net", "deliver", "resolver.", "_", "x", " "]
    pieces += [s[: len(s) // 2] for s, _ in signs] + [s[len(s) // 2 :] for s, _ in signs]
    texts = [" ".join(draw.choice(pieces) for _ in range(draw.randint(1, 4))) for _ in range(20_000)]
    for text in texts:
        first = next((module for sign, module in signs if sign in text), None)
        assert _provider_by_signs(text) is first, text


def test_agent_words_are_found_as_a_plain_search_finds_them() -> None:
    draw = random.Random(1)
    pieces = [*AGENT_WORDS, "mail", "(", "lda", "deliver", "local", " ", "x"]
    pieces += [w[:-1] for w in AGENT_WORDS] + [w[1:] for w in AGENT_WORDS]
    for text in [" ".join(draw.choice(pieces) for _ in range(draw.randint(1, 3))) for _ in range(5000)]:
        assert _names_an_agent(text) == any(word in text for word in AGENT_WORDS), text
