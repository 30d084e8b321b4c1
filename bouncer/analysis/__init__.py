"""The pure analysis core: raw message bytes in, an :class:`Analysis` out.

Nothing here knows of IMAP, databases or asyncio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bouncer.analysis.result import Analysis, Recipient
from bouncer.analysis.taxonomy import Kind, Reason

PARSER_VERSION = "0.0.1"


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """Deployment-specific knobs: extra tracker-key regexes with a named group ``key``."""

    tracker_patterns: tuple[re.Pattern[str], ...] = ()


def analyse(raw: bytes, options: AnalysisOptions | None = None) -> Analysis:
    """Analyse one message. Never raises."""
    return Analysis(kind=Kind.NOT_BOUNCE, error="the analysis engine is not built yet")


__all__ = ["PARSER_VERSION", "Analysis", "AnalysisOptions", "Kind", "Reason", "Recipient", "analyse"]
