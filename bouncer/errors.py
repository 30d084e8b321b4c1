"""Errors that reach the user as one clear sentence (no traceback)."""

from __future__ import annotations

from collections.abc import Iterable


class BouncerError(Exception):
    """A runtime failure the user can act on; the message is the sentence to print."""


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` holds one sentence per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
