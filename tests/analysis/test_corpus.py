"""The engine over the labelled Sisimai corpus (tests/corpus/sisimai), scored in-process.

Two bars: the floor the engine reaches today (a regression guard that must hold), and the
targets of issue 3. All targets are met but recipients (98.9% for 99%): 5 of the 454
labelled recipients cannot be found without inventing or guessing an address (a
placeholder, a mistyped label, a second message in one file, a header naming another
address; see bouncer/analysis/README.md). The floor holds recipients at 98.8%.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

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
    assert score.recipients >= 98.8, score.misses
    assert score.kind >= 99.5, score.misses
    assert score.status >= 98.0, score.misses
    assert score.hard >= 98.0, score.misses
    assert score.reason >= 96.5, score.misses


def test_engine_meets_the_issue_targets_but_recipients() -> None:
    score = corpus_score()
    assert score.hard >= 98.0, score.misses
    assert score.status >= 98.0, score.misses
    assert score.reason >= 95.0, score.misses
    assert score.kind >= 98.0, score.misses
    assert score.extra_recipients <= 5, score.misses
