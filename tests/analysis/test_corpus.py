"""The engine over the labelled Sisimai corpus (tests/corpus/sisimai), scored in-process.

Two bars: the floor the engine reaches today (a regression guard that must hold), and the
targets of issue 3, which are not all met yet and are marked as an expected failure, so
that the gap stays visible instead of being hidden by a skip.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from scoring import Score, score_corpus

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "sisimai"


@cache
def corpus_score() -> Score:
    return score_corpus(CORPUS)


def test_corpus_is_complete() -> None:
    score = corpus_score()
    assert score.rows == 454
    assert score.missing_messages == 0
    assert score.negatives == 2


def test_engine_holds_its_measured_floor() -> None:
    score = corpus_score()
    assert score.negatives_ok == score.negatives, "a message that is no bounce was reported as one"
    assert score.extra_recipients <= 5, score.misses
    assert score.recipients >= 98.0, score.misses
    assert score.kind >= 99.0, score.misses
    assert score.status >= 96.5, score.misses
    assert score.hard >= 97.0, score.misses
    assert score.reason >= 95.0, score.misses


@pytest.mark.xfail(reason="issue 3 targets not all reached yet: see the engine report", strict=True)
def test_engine_meets_the_issue_targets() -> None:
    score = corpus_score()
    assert score.recipients >= 99.0
    assert score.hard >= 98.0
    assert score.status >= 98.0
    assert score.reason >= 95.0
    assert score.kind >= 98.0
    assert score.extra_recipients <= 5
